// Time series: a series from a file (timestamp and value columns, optionally one entity
// of many), scored by POST /api/v1/timeseries/detect; then a zoomable chart of the
// values, the expected band, the anomalies and the changepoints, and their tables.

import { h, field, facts, num, onSubmit, table } from './dom.js';
import { call } from './api.js';
import { numbers, epochSeconds } from './files.js';
import { picker } from './picker.js';
import { algorithmCatalogue } from './algorithms.js';
import { destroyCharts, seriesChart } from './charts.js';

const TIME_NAMES = /^(timestamp|time|date|datetime|ts|period)$/i;

export async function mount(page) {
  const { timeseries_methods: methods } = await algorithmCatalogue();
  const error = h('div', { class: 'error', role: 'alert', hidden: true });
  const results = h('section', { id: 'series-results', 'aria-label': 'Results' });
  const timeColumn = h('select', { id: 'series-time' });
  const valueColumn = h('select', { id: 'series-value' });
  const entityColumn = h('select', { id: 'series-entity-column' });
  const entity = h('select', { id: 'series-entity', disabled: true });
  const method = h('select', { id: 'series-method' }, methods.map((m) => h('option', { value: m, selected: m === 'context' }, m)));
  const sensitivity = h('input', { type: 'number', id: 'series-sensitivity', step: 'any', min: '0', placeholder: '1' });
  const period = h('input', { type: 'number', id: 'series-period', step: '1', min: '2', placeholder: 'found from the data' });
  const options = (select, names, none) => select.replaceChildren(...(none ? [h('option', { value: '' }, none)] : []), ...names.map((n) => h('option', { value: n }, n)));
  const data = picker('series', {
    columns: false,
    onChange: (read) => {
      options(timeColumn, read.columns, '(none: row order)');
      options(valueColumn, read.columns);
      options(entityColumn, read.columns, '(one series)');
      timeColumn.value = read.columns.find((c) => TIME_NAMES.test(c)) ?? '';
      valueColumn.value = read.columns.find((c) => c !== timeColumn.value && /value|count|cpu|metric/i.test(c)) ?? read.columns.find((c) => c !== timeColumn.value) ?? '';
      entityColumn.value = '';
      entity.replaceChildren();
      entity.disabled = true;
    },
  });
  entityColumn.addEventListener('change', () => {
    const read = data.table;
    const k = read.columns.indexOf(entityColumn.value);
    entity.disabled = k < 0;
    entity.replaceChildren(...(k < 0 ? [] : [...new Set(read.rows.map((r) => r[k]))].sort().map((v) => h('option', { value: v }, v))));
  });
  const run = h('button', { type: 'submit', id: 'series-run' }, 'Detect anomalies in the series');
  const form = h('form', { id: 'series-form' },
    h('fieldset', {}, h('legend', {}, 'Series'), data.element,
      h('div', { class: 'row' }, field('Timestamp column', timeColumn), field('Value column', valueColumn), field('Entity column', entityColumn), field('Entity', entity))),
    h('fieldset', {}, h('legend', {}, 'Method'),
      h('div', { class: 'row' }, field('Method', method), field('Sensitivity', sensitivity, 'above 1 flags more'), field('Period (points)', period))),
    run);
  onSubmit(form, run, error, async () => {
    results.replaceChildren();
    destroyCharts();
    const read = data.table;
    if (!read || read.kind === 'parquet') throw new Error('choose a CSV, JSON or NDJSON file (or paste rows) first');
    if (!valueColumn.value) throw new Error('choose the value column');
    let rows = [...read.rows.keys()];
    const ek = read.columns.indexOf(entityColumn.value);
    if (ek >= 0) rows = rows.filter((r) => read.rows[r][ek] === entity.value);
    const all = numbers(read, valueColumn.value);
    const values = rows.map((r) => all[r]);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`row ${rows[bad] + 1} of the file has no number in "${valueColumn.value}" (${JSON.stringify(read.rows[rows[bad]][read.columns.indexOf(valueColumn.value)])})`);
    const tk = read.columns.indexOf(timeColumn.value);
    const timestamps = tk >= 0 ? rows.map((r) => read.rows[r][tk]) : undefined;
    const body = {
      method: method.value, values, timestamps,
      sensitivity: sensitivity.value === '' ? undefined : Number(sensitivity.value),
      period: period.value === '' ? undefined : Number(period.value),
    };
    const started = performance.now();
    const response = await (await call('timeseries/detect', { method: 'POST', json: body })).json();
    show(results, response, timestamps, `${valueColumn.value}${ek >= 0 ? ` of ${entity.value}` : ''}`, performance.now() - started);
  });
  page.append(h('h1', {}, 'Anomalies in a time series'),
    h('p', { class: 'lead' }, 'Scores every point of one series in time order (POST api/v1/timeseries/detect).'),
    form, error, results);
}

function show(results, response, timestamps, what, roundTripMs) {
  results.replaceChildren();
  const points = response.points;
  const seconds = timestamps?.map(epochSeconds);
  const isTime = !!seconds && seconds.every(Number.isFinite);
  const xs = isTime ? seconds : points.map((p) => p.index);
  results.append(h('h2', {}, 'Result'), facts([
    ['Method', response.method],
    ['Points', num(response.total_points)],
    ['Anomalies', h('span', { id: 'series-anomalies' }, num(response.anomalies_detected))],
    ['Changepoints', num(response.changepoints.length)],
    ['Time', `${num(response.processing_time_ms, 3)} ms on the server, ${num(roundTripMs, 3)} ms with the round trip`],
  ], 'Summary'));
  const box = h('div', { class: 'chart', id: 'series-chart' });
  results.append(h('p', { class: 'hint' }, 'Drag across the chart to zoom in; double-click to zoom out.'), box);
  seriesChart(box, {
    xs, isTime, title: what,
    values: points.map((p) => p.value),
    expected: points.map((p) => p.expected),
    lower: points.map((p) => p.lower),
    upper: points.map((p) => p.upper),
    anomalies: points.map((p) => p.anomaly),
    changepoints: response.changepoints,
  });
  const at = (p) => (timestamps ? String(timestamps[p.index]) : String(p.index));
  const flagged = points.filter((p) => p.anomaly);
  results.append(table('Anomalies', ['Point', 'Time', 'Value', 'Expected', 'Score', 'Grade'],
    flagged.map((p) => [String(p.index), at(p), num(p.value), num(p.expected), num(p.score), num(p.grade, 3)]), 'anomalies'));
  if (response.changepoints.length) {
    results.append(table('Changepoints', ['Point', 'Time', 'Level before', 'Level after'],
      response.changepoints.map((c) => [String(c.index), at(points[c.index]), num(c.level_before), num(c.level_after)]), 'changepoints'));
  }
}
