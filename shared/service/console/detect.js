// Detect: rows in, a detector fitted and scored by POST /api/v1/detect; then a
// summary, the scores' histogram with the threshold, a scatter of the two features
// that explain the most flags, and the flagged rows with their explanations.

import { h, facts, num, onSubmit, download, csvField, table } from './dom.js';
import { call } from './api.js';
import { numbers } from './files.js';
import { picker, rowsRequest } from './picker.js';
import { algorithmCatalogue, algorithmChooser, thresholdChooser } from './algorithms.js';
import { destroyCharts, histogram, scatter } from './charts.js';

const SHOWN_ROWS = 500;

export async function mount(page) {
  const data = picker('detect');
  const error = h('div', { class: 'error', role: 'alert', hidden: true });
  const results = h('section', { id: 'detect-results', 'aria-label': 'Results' });
  const { algorithms } = await algorithmCatalogue();
  const chooser = algorithmChooser('detect', algorithms);
  const threshold = thresholdChooser('detect');
  const run = h('button', { type: 'submit', id: 'detect-run' }, 'Detect anomalies');
  const form = h('form', { id: 'detect-form' },
    h('fieldset', {}, h('legend', {}, 'Rows'), data.element),
    h('fieldset', {}, h('legend', {}, 'Detector'), chooser.element, threshold.element),
    run);
  onSubmit(form, run, error, async () => {
    results.replaceChildren();
    destroyCharts();
    const input = data.table;
    const ignored = data.ignored();
    const request = rowsRequest(input, ignored, { ...chooser.choice(), ...threshold.fields(), explain: true, top_features: 3 });
    const started = performance.now();
    const response = await (await call('detect', { method: 'POST', ...request })).json();
    showScores(results, input, ignored, response, performance.now() - started);
  });
  page.append(h('h1', {}, 'Detect anomalies in rows'),
    h('p', { class: 'lead' }, 'Fits the chosen detector on your rows and scores each of them (POST api/v1/detect).'),
    form, error, results);
}

/** The features named most in the flagged rows' explanations (by summed share). */
function explainingFeatures(anomalies) {
  const weight = new Map();
  for (const anomaly of anomalies) {
    for (const part of anomaly.explanation ?? []) weight.set(part.feature, (weight.get(part.feature) ?? 0) + part.share);
  }
  return [...weight.entries()].sort((a, b) => b[1] - a[1]).map(([name]) => name);
}

/** Draws a detect (or predict) answer for the rows of `input` into `results`. */
export function showScores(results, input, ignored, response, roundTripMs) {
  results.replaceChildren();
  const flagged = new Uint8Array(response.scores.length);
  for (const a of response.anomalies) flagged[a.index] = 1;
  results.append(h('h2', {}, 'Result'), facts([
    ['Algorithm', response.algorithm],
    ['Rows scored', h('span', { id: 'detect-rows' }, num(response.total_samples))],
    ['Flagged', h('span', { id: 'detect-flagged' }, num(response.anomalies_detected))],
    ['Share flagged', `${num(100 * response.anomaly_rate, 3)} %`],
    ['Threshold (score)', num(response.threshold)],
    ['Time', `${num(response.processing_time_ms, 3)} ms on the server, ${num(roundTripMs, 3)} ms with the round trip`],
  ], 'Summary'));
  if (response.dropped_rows?.length) results.append(h('p', {}, `${response.dropped_rows.length} rows were left out for missing values.`));

  const scores = response.scores.map((s) => (s === null ? NaN : s));
  const histogramBox = h('div', { class: 'chart', id: 'detect-histogram' });
  results.append(h('h3', {}, 'Scores'), histogramBox);
  histogram(histogramBox, scores, response.threshold);

  const scatterBox = h('div', { class: 'chart', id: 'detect-scatter' });
  results.append(h('h3', {}, 'Flagged rows among the others'), scatterBox);
  const scored = input.columns.filter((c) => !ignored.includes(c));
  const names = [...new Set([...explainingFeatures(response.anomalies), ...scored])].filter((c) => input.columns.includes(c));
  if (input.kind === 'parquet') {
    scatterBox.append(h('p', {}, 'Parquet is read by the server only, so its values are not drawn here: the histogram and the table are.'));
  } else if (input.rows.length !== response.scores.length) {
    scatterBox.append(h('p', {}, `The page read ${input.rows.length} rows and the API ${response.scores.length}; the scatter needs both to agree.`));
  } else if (names.length < 2) {
    scatterBox.append(h('p', {}, 'A scatter needs two numeric columns.'));
  } else {
    const [xName, yName] = names;
    const xs = numbers(input, xName);
    const ys = numbers(input, yName);
    const cell = (row, name) => input.rows[row][input.columns.indexOf(name)];
    scatter(scatterBox, {
      xs, ys, flagged, xName, yName,
      describe: (row) => [
        `row ${row}`,
        `score ${num(response.scores[row])} · grade ${num(response.grades[row], 3)}`,
        flagged[row] ? 'flagged' : 'not flagged',
        `${xName} = ${cell(row, xName)}`,
        `${yName} = ${cell(row, yName)}`,
      ],
    });
  }

  const sorted = [...response.anomalies].sort((a, b) => b.score - a.score);
  const explanation = (a) => h('ul', { class: 'explanation' }, (a.explanation ?? []).map((part) => h('li', {},
    h('span', { class: 'feature' }, `${part.feature} = ${num(part.value)}`),
    h('meter', { min: 0, max: 1, value: part.share, 'aria-label': `${part.feature} share` }),
    h('span', {}, `${num(100 * part.share, 3)} %`))));
  results.append(h('h3', {}, 'Flagged rows, highest score first'),
    h('p', { hidden: sorted.length <= SHOWN_ROWS }, `The first ${SHOWN_ROWS} of ${sorted.length}; the download has them all.`),
    table(null, ['Row', 'Score', 'Grade', 'What explains it'], sorted.slice(0, SHOWN_ROWS).map((a) => [String(a.index), num(a.score), num(a.grade, 3), explanation(a)]), 'flagged'));

  const save = h('button', { type: 'button', id: 'detect-download' }, 'Download every row with its score (CSV)');
  save.addEventListener('click', () => {
    const header = ['row', 'score', 'grade', 'anomaly', ...input.columns].map(csvField).join(',');
    const lines = response.scores.map((score, row) => [row, score ?? '', response.grades[row] ?? '', flagged[row] ? 'true' : 'false',
      ...(input.rows[row] ?? [])].map(csvField).join(','));
    download(`${input.name.replace(/\.[^.]*$/, '')}-scores.csv`, [header, ...lines].join('\n') + '\n');
  });
  results.append(save);
}
