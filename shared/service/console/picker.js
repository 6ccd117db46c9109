// Choosing rows to send: a file picked or dropped, or rows pasted; then which columns
// are scored. Detect, model training and prediction all take their rows from here, and
// send them with `rowsRequest`, so the three say the same thing about the same file.

import { h, field } from './dom.js';
import { readFile, readText, kindOf, isNumeric } from './files.js';

const LABEL_NAMES = new Set(['label', 'labels', 'class', 'target', 'y', 'is_anomaly', 'anomaly', 'outlier', 'ground_truth']);

/** A data picker; `onChange(table)` runs when rows are read. `columns: false` hides the column list. */
export function picker(id, { columns = true, onChange = () => {} } = {}) {
  let table = null;
  const state = h('p', { class: 'file-state', role: 'status', id: `${id}-state` });
  const columnList = h('fieldset', { class: 'columns', id: `${id}-columns`, hidden: true });
  const problem = h('div', { class: 'error', role: 'alert', hidden: true });

  const use = (read) => {
    table = read;
    problem.hidden = true;
    const size = read.kind === 'parquet' ? `${read.bytes.byteLength.toLocaleString('en-US')} bytes of Parquet (read by the server; not drawn)` : `${read.rows.length.toLocaleString('en-US')} rows, ${read.columns.length} columns (${read.kind.toUpperCase()})`;
    state.replaceChildren(`${read.name}: ${size}`);
    columnList.replaceChildren(h('legend', {}, 'Columns scored'));
    columnList.hidden = !columns;
    if (read.kind === 'parquet') {
      // The browser does not read Parquet: the columns to leave out are typed.
      columnList.append(field('Columns not to score', h('input', { type: 'text', id: `${id}-ignore`, 'data-ignore': 'typed', placeholder: 'label, id' }), 'comma-separated names; every other numeric column is scored'));
    }
    for (const [k, name] of read.columns.entries()) {
      const numeric = isNumeric(read, name);
      const label = LABEL_NAMES.has(name.toLowerCase());
      const box = h('input', { type: 'checkbox', id: `${id}-col-${k}`, 'data-column': name, checked: numeric && !label });
      const why = !numeric ? ' (not numeric)' : label ? ' (looks like a label: not scored)' : '';
      columnList.append(h('span', { class: 'column' }, box, h('label', { for: box.id }, name, h('small', {}, why))));
    }
    onChange(read);
  };
  const fail = (error) => {
    table = null;
    problem.replaceChildren(h('p', {}, error.message));
    problem.hidden = false;
  };

  const input = h('input', { type: 'file', id: `${id}-file`, accept: '.csv,.tsv,.txt,.json,.ndjson,.jsonl,.parquet', onchange: () => { if (input.files[0]) readFile(input.files[0]).then(use, fail); } });
  const drop = h('div', { class: 'drop', id: `${id}-drop` },
    h('p', {}, 'Drop a CSV, JSON, NDJSON or Parquet file here, or pick one:'),
    field('File', input));
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const file = event.dataTransfer?.files?.[0];
    if (file) readFile(file).then(use, fail);
  });
  const paste = h('textarea', { id: `${id}-paste`, rows: 5, spellcheck: 'false', placeholder: 'a,b\n1,2\n3,4' });
  const pasted = h('details', {}, h('summary', {}, 'or paste rows (CSV or JSON)'),
    field('Rows', paste),
    h('button', { type: 'button', onclick: () => { try { use(readText('pasted rows', kindOf('', paste.value), paste.value)); } catch (e) { fail(e); } } }, 'Use pasted rows'));

  return {
    element: h('div', { class: 'picker' }, drop, pasted, state, problem, columnList),
    get table() { return table; },
    /** Columns the user unticked. */
    ignored() {
      const typed = columnList.querySelector('input[data-ignore]');
      if (typed) return typed.value.split(',').map((c) => c.trim()).filter(Boolean);
      return [...columnList.querySelectorAll('input[type=checkbox]')].filter((b) => !b.checked).map((b) => b.dataset.column);
    },
  };
}

/**
 * The API call for the picked rows with `fields` (algorithm, threshold, ...): CSV and
 * NDJSON go as they are with the fields in the query string, Parquet too; JSON rows
 * go as `records` in a JSON body. Throws when a choice cannot be said in the query.
 */
export function rowsRequest(table, ignored, fields) {
  if (!table) throw new Error('choose a file (or paste rows) first');
  const present = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  if (table.kind === 'json') {
    return { json: { ...present, records: table.records, ...(ignored.length ? { ignore_columns: ignored } : {}) } };
  }
  const withComma = ignored.find((name) => name.includes(','));
  if (withComma) throw new Error(`column "${withComma}" has a comma in its name, which a query string cannot list; tick it, or send the rows as JSON`);
  const query = { ...present };
  if (query.parameters) query.parameters = JSON.stringify(query.parameters);
  if (ignored.length) query.ignore_columns = ignored.join(',');
  const type = { csv: 'text/csv', ndjson: 'application/x-ndjson', parquet: 'application/vnd.apache.parquet' }[table.kind];
  return { query, body: table.kind === 'parquet' ? table.bytes : table.text, type };
}
