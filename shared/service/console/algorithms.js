// The algorithm chooser, filled from GET /api/v1/algorithms: each algorithm's
// description and its parameters with their defaults and ranges.

import { h, field } from './dom.js';
import { apiKey, getJson } from './api.js';

let catalogue = null;
let askedWith = null;

/**
 * The catalogue, fetched once per page load and key: an answer asked for without the
 * key (or with another) is not reused once a key is entered, and a failure is not kept.
 */
export async function algorithmCatalogue() {
  const key = apiKey.get();
  if (catalogue === null || askedWith !== key) {
    askedWith = key;
    const asked = getJson('algorithms').catch((error) => {
      if (catalogue === asked) catalogue = null;
      throw error;
    });
    catalogue = asked;
  }
  return catalogue;
}

/** A value typed into a parameter box: a number or boolean when it reads as one. */
function typed(text) {
  const value = text.trim();
  if (value === 'true' || value === 'false') return value === 'true';
  const n = Number(value);
  return value !== '' && Number.isFinite(n) ? n : value;
}

/** An algorithm select with its parameters; `choice()` is {algorithm, parameters}. */
export function algorithmChooser(id, algorithms, initial = 'auto') {
  const select = h('select', { id: `${id}-algorithm` },
    algorithms.map((a) => h('option', { value: a.name, selected: a.name === initial }, a.name)));
  const about = h('p', { class: 'about', id: `${id}-about` });
  const params = h('div', { class: 'parameters' });
  const show = () => {
    const algorithm = algorithms.find((a) => a.name === select.value);
    about.replaceChildren(algorithm?.description ?? '');
    params.replaceChildren(...(algorithm?.parameters ?? []).map((p) => field(p.name,
      h('input', { type: 'text', inputmode: 'decimal', 'data-parameter': p.name, placeholder: String(p.default), 'aria-describedby': `${id}-about` }),
      `default ${p.default}; ${p.range}`)));
  };
  select.addEventListener('change', show);
  show();
  return {
    element: h('div', {}, field('Algorithm', select), about, params),
    choice() {
      const parameters = {};
      for (const input of params.querySelectorAll('input[data-parameter]')) {
        if (input.value.trim() !== '') parameters[input.dataset.parameter] = typed(input.value);
      }
      return { algorithm: select.value, parameters: Object.keys(parameters).length ? parameters : undefined };
    },
  };
}

/** The threshold chooser: automatic, a share of rows (contamination) or a score. */
export function thresholdChooser(id) {
  const mode = h('select', { id: `${id}-threshold` },
    h('option', { value: 'auto' }, 'automatic'),
    h('option', { value: 'contamination' }, 'share of rows (contamination)'),
    h('option', { value: 'score' }, 'score value'));
  const value = h('input', { type: 'number', id: `${id}-threshold-value`, step: 'any', disabled: true });
  mode.addEventListener('change', () => { value.disabled = mode.value === 'auto'; });
  return {
    element: h('div', { class: 'row' }, field('Threshold', mode), field('Value', value, 'a share in (0, 0.5], or a score')),
    fields() {
      if (mode.value === 'auto') return {};
      if (value.value === '') throw new Error(`enter the threshold's value (${mode.value === 'score' ? 'a score' : 'a share of rows, e.g. 0.05'})`);
      return mode.value === 'score' ? { threshold: Number(value.value) } : { contamination: Number(value.value) };
    },
  };
}
