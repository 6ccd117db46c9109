// Charts, drawn by uPlot (console/vendor, MIT): a canvas per chart, so 100,000 points
// stay fast. Each chart has a text alternative beside it on its page (a table).

import { h, num } from './dom.js';

const uPlot = () => globalThis.uPlot;
const live = new Set();
const COLORS = { normal: '#5b6b80', flagged: '#c0392b', line: '#1f5f99', band: 'rgba(31,95,153,0.15)', expected: '#5c8f3a', changepoint: '#7d3c98' };

/** Destroys the charts of the page being left. */
export function destroyCharts() {
  for (const chart of live) chart.destroy();
  live.clear();
}

function chartWidth(container) {
  return Math.max(320, Math.min(1100, (container.clientWidth || 900) - 8));
}

function make(options, data, container) {
  const chart = new (uPlot())({ width: chartWidth(container), ...options }, data, container);
  live.add(chart);
  return chart;
}

addEventListener('resize', () => {
  for (const chart of live) chart.setSize({ width: chartWidth(chart.root.parentElement), height: chart.height });
});

/** A vertical line at x = `value` across the plot, drawn after the series. */
function verticalLine(u, value, color, dash, label) {
  const x = Math.round(u.valToPos(value, 'x', true));
  if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
  const { ctx } = u;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = 2 * devicePixelRatio;
  ctx.setLineDash(dash.map((d) => d * devicePixelRatio));
  ctx.beginPath();
  ctx.moveTo(x, u.bbox.top);
  ctx.lineTo(x, u.bbox.top + u.bbox.height);
  ctx.stroke();
  if (label) {
    ctx.fillStyle = color;
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.fillText(label, x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
  }
  ctx.restore();
}

/** Scores in 40 bins, the threshold as a red line. */
export function histogram(container, scores, threshold) {
  const finite = scores.filter((s) => Number.isFinite(s));
  let lo = Math.min(...finite.slice(0, 1), threshold);
  let hi = Math.max(...finite.slice(0, 1), threshold);
  for (const s of finite) { if (s < lo) lo = s; if (s > hi) hi = s; }
  if (hi === lo) hi = lo + 1;
  const bins = 40;
  const step = (hi - lo) / bins;
  const counts = new Array(bins).fill(0);
  for (const s of finite) counts[Math.min(bins - 1, Math.floor((s - lo) / step))] += 1;
  const centers = counts.map((_, k) => lo + (k + 0.5) * step);
  return make({
    height: 240,
    title: 'Scores of all rows',
    scales: { x: { time: false, range: () => [lo, hi] } },
    axes: [{ label: 'anomaly score' }, { label: 'rows' }],
    legend: { live: false },
    series: [
      { label: 'score' },
      { label: 'rows', stroke: COLORS.normal, fill: 'rgba(91,107,128,0.45)', paths: uPlot().paths.bars({ size: [0.95, Infinity] }), points: { show: false } },
      { label: `threshold ${num(threshold)}`, stroke: COLORS.flagged, width: 2, paths: () => null, points: { show: false } },
    ],
    hooks: { draw: [(u) => verticalLine(u, threshold, COLORS.flagged, [], '')] },
  }, [centers, counts, centers.map(() => null)], container);
}

/** A little jitter for columns of few distinct values, so stacked points show. */
function jitter(values, seed) {
  const distinct = [...new Set(values.filter(Number.isFinite))].sort((a, b) => a - b);
  if (distinct.length > 20 || distinct.length < 2) return { values, jittered: false };
  let gap = Infinity;
  for (let k = 1; k < distinct.length; k += 1) gap = Math.min(gap, distinct[k] - distinct[k - 1]);
  const random = () => { seed = (seed * 48271) % 2147483647; return seed / 2147483647; };
  return { values: values.map((v) => v + (random() - 0.5) * 0.5 * gap), jittered: true };
}

/**
 * Rows as points of two features, flagged rows red and drawn on top; hovering a point
 * shows `describe(row)` in a tooltip. Drag to zoom, double-click to reset.
 */
export function scatter(container, { xs, ys, flagged, xName, yName, describe }) {
  // Separate generators: the same one for both would move each point along a diagonal.
  const jx = jitter(Array.from(xs), 12345);
  const jy = jitter(Array.from(ys), 67890);
  const order = [...xs.keys()].filter((i) => Number.isFinite(xs[i]) && Number.isFinite(ys[i]));
  order.sort((a, b) => jx.values[a] - jx.values[b]);
  const x = order.map((i) => jx.values[i]);
  const normal = order.map((i) => (flagged[i] ? null : jy.values[i]));
  const marked = order.map((i) => (flagged[i] ? jy.values[i] : null));
  const note = jx.jittered || jy.jittered ? ' (few distinct values: points spread a little so stacked rows show)' : '';
  const tip = h('div', { class: 'tooltip', role: 'tooltip', id: `tip-${Math.random().toString(36).slice(2)}`, hidden: true });
  let pixels = null;
  const chart = make({
    height: 380,
    title: `${yName} against ${xName}${note}`,
    scales: { x: { time: false } },
    axes: [{ label: xName }, { label: yName }],
    cursor: { points: { show: false }, drag: { x: true, y: false } },
    legend: { live: false },
    series: [
      { label: xName },
      { label: 'normal rows', stroke: COLORS.normal, paths: () => null, points: { show: true, size: 4, width: 0, fill: COLORS.normal, stroke: COLORS.normal } },
      { label: 'flagged rows', stroke: COLORS.flagged, paths: () => null, points: { show: true, size: 7, width: 0, fill: COLORS.flagged, stroke: COLORS.flagged } },
    ],
    hooks: { draw: [() => { pixels = null; }] },
  }, [x, normal, marked], container);
  container.classList.add('has-tooltip');
  container.append(tip);
  const project = () => {
    const px = new Float32Array(order.length);
    const py = new Float32Array(order.length);
    for (let k = 0; k < order.length; k += 1) {
      px[k] = chart.valToPos(x[k], 'x');
      py[k] = chart.valToPos(marked[k] ?? normal[k], 'y');
    }
    return { px, py };
  };
  let pending = false;
  chart.over.addEventListener('mousemove', (event) => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      pixels ??= project();
      const { px, py } = pixels;
      let best = -1;
      let bestDistance = 100; // 10 px, squared
      for (let k = 0; k < px.length; k += 1) {
        const d = (px[k] - event.offsetX) ** 2 + (py[k] - event.offsetY) ** 2;
        if (d < bestDistance || (d === bestDistance && marked[k] !== null)) { best = k; bestDistance = d; }
      }
      if (best < 0) { tip.hidden = true; return; }
      tip.replaceChildren(...describe(order[best]).map((line) => h('div', {}, line)));
      tip.hidden = false;
      const left = chart.over.offsetLeft + px[best] + 12;
      tip.style.left = `${Math.min(left, container.clientWidth - 220)}px`;
      tip.style.top = `${chart.over.offsetTop + py[best] + 12}px`;
    });
  });
  chart.over.addEventListener('mouseleave', () => { tip.hidden = true; });
  return chart;
}

/**
 * A series: values, the expected level and its band, anomalies as red points,
 * changepoints as purple lines labelled with the levels before and after.
 */
export function seriesChart(container, { xs, isTime, values, expected, lower, upper, anomalies, changepoints, title }) {
  const marks = values.map((v, i) => (anomalies[i] ? v : null));
  const hasBand = lower.some((v) => v !== null);
  const series = [
    { label: isTime ? 'time (UTC)' : 'point' },
    { label: 'value', stroke: COLORS.line, width: 1 },
    { label: 'expected', stroke: COLORS.expected, width: 1, dash: [6, 4], show: hasBand },
    { label: 'lower', stroke: 'rgba(31,95,153,0.35)', width: 1, show: hasBand },
    { label: 'upper', stroke: 'rgba(31,95,153,0.35)', width: 1, show: hasBand },
    { label: 'anomaly', stroke: COLORS.flagged, paths: () => null, points: { show: true, size: 9, width: 0, fill: COLORS.flagged, stroke: COLORS.flagged } },
  ];
  if (changepoints.length) series.push({ label: 'changepoint', stroke: COLORS.changepoint, width: 2, paths: () => null, points: { show: false } });
  const data = [xs, values, expected, lower, upper, marks];
  if (changepoints.length) data.push(xs.map(() => null));
  return make({
    height: 400,
    title,
    scales: { x: { time: isTime } },
    tzDate: (ts) => uPlot().tzDate(new Date(ts * 1e3), 'Etc/UTC'),
    axes: [{ label: isTime ? 'time (UTC)' : 'point' }, { label: 'value' }],
    bands: hasBand ? [{ series: [4, 3], fill: COLORS.band }] : [],
    series,
    hooks: {
      draw: [(u) => {
        for (const cp of changepoints) {
          verticalLine(u, xs[cp.index], COLORS.changepoint, [5, 3], `${num(cp.level_before, 3)} → ${num(cp.level_after, 3)}`);
        }
      }],
    },
  }, data, container);
}
