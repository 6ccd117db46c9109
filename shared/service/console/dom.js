// Building elements. Every string is inserted as text, never parsed as HTML, so a
// column named `<img src=x onerror=alert(1)>` shows that text and runs nothing.

/** `h('p', {class: 'note'}, 'text', child)`: an element with attributes and children. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else if (name === 'value' || name === 'checked') element[name] = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A labelled control: the label names the control for screen readers too. */
let nextId = 0;
export function field(label, control, hint) {
  if (!control.id) control.id = `field-${++nextId}`;
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control,
    hint ? h('small', {}, hint) : null);
}

/** A table with a caption, header cells and rows of cells (strings or nodes). */
export function table(caption, headers, rows, className) {
  return h('table', { class: className },
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((name) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => h('td', {}, cell))))));
}

/** A definition list of [term, value] pairs. */
export function facts(pairs, label) {
  return h('dl', { class: 'facts', 'aria-label': label }, pairs.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

/** A number for people: up to `digits` significant digits, no exponent for usual sizes. */
export function num(value, digits = 4) {
  if (value === null || value === undefined) return '–';
  if (typeof value !== 'number') return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return Number(value.toPrecision(digits)).toString();
}

/** Shows an error (or clears it) in a page's alert area. */
export function showError(area, error) {
  area.replaceChildren(error ? h('p', {}, error.message ?? String(error)) : '');
  area.hidden = !error;
}

/**
 * Runs `work` when `form` is submitted: the button disabled meanwhile, any error shown
 * in `error` (in the API's own words when it comes from the API).
 */
export function onSubmit(form, button, error, work) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(error, null);
    button.disabled = true;
    try {
      await work();
    } catch (e) {
      showError(error, e);
    } finally {
      button.disabled = false;
    }
  });
}

/** Offers `content` (text or a Blob) as a file download. */
export function download(name, content, type = 'text/csv') {
  const url = URL.createObjectURL(content instanceof Blob ? content : new Blob([content], { type }));
  const link = h('a', { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A CSV field, quoted when it must be. */
export function csvField(value) {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The epoch seconds as a UTC date and time. */
export function when(seconds) {
  if (!seconds) return '–';
  return new Date(seconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}
