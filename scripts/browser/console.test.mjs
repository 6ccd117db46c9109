// The web console in a real browser: Debian's chromium driven by playwright-core, against
// a running `pynomaly serve` (with API keys on). Every figure the page shows is checked
// against the API's own answer for the same input. Screenshots go to $ARTIFACTS.
//
// Env: CONSOLE_URL (the server's base URL), API_KEY, ARTIFACTS (a directory),
// SAMPLES (the repo's data/samples). Run by scripts/e2e-browser.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { series, xssCsv, axeSource, launchOptions } from './support.mjs';

const BASE = process.env.CONSOLE_URL.replace(/\/?$/, '/');
const KEY = process.env.API_KEY;
const ARTIFACTS = process.env.ARTIFACTS;
const BREASTW = join(process.env.SAMPLES, 'breastw.csv');
mkdirSync(ARTIFACTS, { recursive: true });

let browser;
let page;
const dialogs = [];
const consoleErrors = [];

before(async () => {
  browser = await chromium.launch(launchOptions());
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('dialog', async (dialog) => {
    dialogs.push(dialog.message());
    // Confirmations are the page's own (delete, reset); anything else is an injected script.
    if (dialog.type() === 'confirm') await dialog.accept(); else await dialog.dismiss();
  });
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  await page.goto(BASE);
  await page.fill('#api-key', KEY);
  await page.click('#key-form button');
  await page.waitForSelector('#detect-form');
});

after(async () => {
  await browser?.close();
});

async function api(path, { method = 'GET', body, type, query = {} } = {}) {
  const url = new URL(`api/v1/${path}`, BASE);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const headers = { 'x-api-key': KEY };
  if (type) headers['content-type'] = type;
  const response = await fetch(url, { method, headers, body });
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

async function axe(name) {
  // Evaluated over the DevTools protocol: the page's policy rightly refuses an injected script tag.
  await page.evaluate(axeSource());
  const result = await page.evaluate(async () => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  writeFileSync(join(ARTIFACTS, `axe-${name}.json`), JSON.stringify(result.violations, null, 1));
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.length} nodes: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')})`), [], `${name}: serious accessibility violations`);
}

async function shot(name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

test('the page is served with a strict policy, and its key form keeps the key in the tab', async () => {
  const response = await fetch(BASE);
  const csp = response.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
  const models = await fetch(new URL('api/v1/models', BASE), { headers: { 'x-api-key': KEY } });
  assert.equal(models.headers.get('cache-control'), 'no-store');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('pynomaly.api-key')), KEY);
  assert.match(await page.textContent('#key-state'), /key set/);
});

test('detect: breastw with ECOD shows the API\'s flagged count, histogram, scatter tooltip and table', async () => {
  await page.goto(`${BASE}#detect`);
  await page.setInputFiles('#detect-file', BREASTW);
  await page.waitForSelector('#detect-columns:not([hidden])');
  assert.match(await page.textContent('#detect-state'), /683 rows, 10 columns/);
  const label = page.locator('#detect-columns input[data-column="label"]');
  assert.equal(await label.isChecked(), false, 'a column named label is not scored by default');
  await page.selectOption('#detect-algorithm', 'ecod');
  await page.click('#detect-run');
  await page.waitForSelector('#detect-flagged');

  const expected = await api('detect', { method: 'POST', body: readFileSync(BREASTW), type: 'text/csv', query: { algorithm: 'ecod', ignore_columns: 'label', explain: 'true' } });
  assert.equal(await page.textContent('#detect-flagged'), String(expected.anomalies_detected));
  assert.equal(await page.textContent('#detect-rows'), String(expected.total_samples));
  assert.ok(expected.anomalies_detected > 100);
  assert.equal(await page.locator('table.flagged tbody tr').count(), expected.anomalies_detected);
  const top = [...expected.anomalies].sort((a, b) => b.score - a.score)[0];
  assert.equal(await page.textContent('table.flagged tbody tr:first-child td:first-child'), String(top.index));
  assert.equal(await page.locator('table.flagged tbody tr:first-child meter').count(), top.explanation.length);
  assert.equal(await page.locator('#detect-histogram canvas').count(), 1);

  // Hover the scatter's plot area until a point's tooltip shows; it must describe that
  // row as the API scored it.
  const over = page.locator('#detect-scatter .u-over');
  await over.scrollIntoViewIfNeeded();
  const box = await over.boundingBox();
  const tooltip = page.locator('#detect-scatter [role=tooltip]');
  let text = null;
  for (let y = 6; y < box.height && !text; y += 9) {
    for (let x = 6; x < box.width && !text; x += 9) {
      await page.mouse.move(box.x + x, box.y + y);
      if (await tooltip.isVisible()) text = await tooltip.innerText();
    }
  }
  assert.ok(text, 'no tooltip showed anywhere over the scatter');
  const row = Number(text.match(/^row (\d+)/)[1]);
  const score = Number(text.match(/score ([-\d.e+]+)/)[1]);
  assert.equal(score, Number(expected.scores[row].toPrecision(4)), `tooltip of row ${row}: ${text}`);
  assert.match(text, expected.anomalies.some((a) => a.index === row) ? /\nflagged/ : /not flagged/);
  await shot('detect-breastw-ecod');
  await axe('detect');
});

test('detect: a Parquet file goes to the API as it is, with the columns to leave out typed', async () => {
  await page.goto(`${BASE}#models`); // away and back: a fresh Detect page
  await page.goto(`${BASE}#detect`);
  await page.waitForSelector('#detect-file');
  await page.setInputFiles('#detect-file', join(process.env.SAMPLES, 'wbc.parquet'));
  await page.fill('#detect-ignore', 'label');
  await page.selectOption('#detect-algorithm', 'ecod');
  await page.click('#detect-run');
  await page.waitForSelector('#detect-flagged');
  const expected = await api('detect', { method: 'POST', body: readFileSync(join(process.env.SAMPLES, 'wbc.csv')), type: 'text/csv', query: { algorithm: 'ecod', ignore_columns: 'label' } });
  assert.equal(await page.textContent('#detect-flagged'), String(expected.anomalies_detected));
  assert.equal(await page.textContent('#detect-rows'), '223');
  assert.match(await page.innerText('#detect-scatter'), /Parquet is read by the server only/);
});

test('detect: a column named like markup is shown as text and runs nothing', async () => {
  dialogs.length = 0;
  await page.goto(`${BASE}#models`);
  await page.goto(`${BASE}#detect`);
  await page.waitForSelector('#detect-file');
  await page.setInputFiles('#detect-file', { name: '<img src=x onerror=alert(3)>.csv', mimeType: 'text/csv', buffer: Buffer.from(xssCsv()) });
  await page.waitForSelector('#detect-columns:not([hidden])');
  const evil = '<img src=x onerror=alert(1)>';
  assert.equal(await page.locator('#detect-columns label').first().innerText(), evil);
  await page.selectOption('#detect-algorithm', 'hbos');
  await page.click('#detect-run');
  await page.waitForSelector('#detect-flagged');
  assert.match(await page.textContent('#detect-state'), /<img src=x onerror=alert\(3\)>\.csv/);
  // The scatter's title names the columns, as text.
  assert.match(await page.innerText('#detect-scatter'), /<img src=x onerror=alert\(1\)>/);
  // Tick the text column: the API's error names it, and the page shows the name as text.
  await page.check('#detect-columns input[data-column="<script>alert(2)</script>"]');
  await page.click('#detect-run');
  const alert = page.locator('#page > .view > .error[role=alert]:not([hidden]), form ~ .error[role=alert]:not([hidden])').first();
  await alert.waitFor();
  assert.match(await alert.innerText(), /<script>alert\(2\)<\/script>/);
  assert.equal(await page.locator('img').count(), 0, 'no img element was made');
  assert.equal(await page.locator('main script').count(), 0, 'no script element was made');
  await page.waitForTimeout(300);
  assert.deepEqual(dialogs, [], 'an injected script ran');
  await shot('detect-xss');
});

test('time series: anomalies marked on the chart and listed as the API found them', async () => {
  await page.goto(`${BASE}#timeseries`);
  await page.waitForSelector('#series-file');
  const { csv, values, timestamps } = series();
  await page.setInputFiles('#series-file', { name: 'cpu.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.waitForFunction(() => document.querySelector('#series-value').value === 'value');
  assert.equal(await page.inputValue('#series-time'), 'timestamp');
  await page.selectOption('#series-method', 'esd');
  await page.click('#series-run');
  await page.waitForSelector('#series-anomalies');
  const expected = await api('timeseries/detect', { method: 'POST', body: JSON.stringify({ method: 'esd', values, timestamps }), type: 'application/json' });
  assert.ok(expected.anomalies_detected >= 2, 'the spikes are found');
  assert.equal(await page.textContent('#series-anomalies'), String(expected.anomalies_detected));
  const rows = page.locator('table.anomalies tbody tr');
  assert.equal(await rows.count(), expected.anomalies_detected);
  const first = expected.points.find((p) => p.anomaly);
  assert.equal(await rows.first().locator('td').nth(1).innerText(), timestamps[first.index]);
  // The markers are drawn: the anomaly red is on the canvas.
  const red = await page.evaluate(() => {
    const canvas = document.querySelector('#series-chart canvas');
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] === 0xc0 && data[i + 1] === 0x39 && data[i + 2] === 0x2b) n += 1;
    return n;
  });
  assert.ok(red > 20, `anomaly markers drawn (${red} red pixels)`);
  assert.match(await page.innerText('#series-chart'), /time \(UTC\)/);
  await shot('timeseries-esd');
  await axe('timeseries');

  await page.selectOption('#series-method', 'changepoint');
  await page.click('#series-run');
  await page.waitForSelector('table.changepoints');
  const shifts = await api('timeseries/detect', { method: 'POST', body: JSON.stringify({ method: 'changepoint', values }), type: 'application/json' });
  assert.equal(await page.locator('table.changepoints tbody tr').count(), shifts.changepoints.length);
  assert.ok(shifts.changepoints.length >= 1);
  await shot('timeseries-changepoint');
});

test('models: train from an upload, show, predict, delete', async () => {
  await page.goto(`${BASE}#models`);
  await page.waitForSelector('#train-form');
  await page.setInputFiles('#train-file', BREASTW);
  await page.waitForSelector('#train-columns:not([hidden])');
  await page.fill('#train-name', 'console-breastw');
  await page.selectOption('#train-algorithm', 'iforest');
  await page.click('#train-form button[type=submit]');
  await page.waitForSelector('#model-detail h2');
  assert.match(await page.innerText('#model-detail'), /console-breastw[\s\S]*iforest[\s\S]*683 rows/);
  const { models } = await api('models');
  const model = models.find((m) => m.name === 'console-breastw');
  assert.ok(model, 'the model is stored');
  assert.deepEqual(model.features, ['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8']);
  await page.setInputFiles('#predict-file', BREASTW);
  await page.click('#model-detail form button[type=submit]');
  await page.waitForSelector('#predict-results #detect-flagged');
  const scored = await api(`models/${model.id}/predict`, { method: 'POST', body: readFileSync(BREASTW), type: 'text/csv' });
  assert.equal(await page.textContent('#predict-results #detect-flagged'), String(scored.anomalies_detected));
  await shot('models');
  await axe('models');
  await page.click('#model-detail button.danger');
  await page.waitForSelector('#model-detail [role=status]');
  assert.equal((await api('models')).models.some((m) => m.id === model.id), false);
});

test('jobs: a file uploaded and scored in the background, its state refreshing', async () => {
  await page.goto(`${BASE}#jobs`);
  await page.waitForSelector('#job-form');
  await page.setInputFiles('#job-file', BREASTW);
  await page.fill('#job-ignore', 'label');
  await page.selectOption('#job-algorithm', 'ecod');
  await page.click('#job-form button[type=submit]');
  const download = page.locator('#jobs-list button', { hasText: 'Download results' }).first();
  await download.waitFor({ timeout: 60_000 });
  const { jobs } = await api('jobs');
  assert.equal(jobs[0].state, 'succeeded');
  assert.equal(jobs[0].summary.rows, 683);
  const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
  const path = join(ARTIFACTS, 'job-results.csv');
  await file.saveAs(path);
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  assert.equal(lines.length, 684, 'a header and every row');
  await shot('jobs');
  await axe('jobs');
});

test('streams: entities with their latest points and anomalies', async () => {
  const stream = await api('streams', { method: 'POST', type: 'application/json', body: JSON.stringify({ name: 'console-hosts', method: 'rolling-z', entity_field: 'host' }) });
  const points = [];
  for (let i = 0; i < 200; i += 1) {
    for (const host of ['web-1', 'web-2']) points.push({ host, timestamp: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), value: 10 + Math.sin(i / 5) + (host === 'web-2' && i === 150 ? 40 : 0) });
  }
  const pushed = await api(`streams/${stream.id}/points`, { method: 'POST', type: 'application/json', body: JSON.stringify({ points }) });
  assert.ok(pushed.anomalies >= 1);
  await page.goto(`${BASE}#streams`);
  await page.click('#streams-list button:has-text("Open console-hosts")');
  await page.waitForSelector('table.entities');
  const rows = page.locator('table.entities tbody tr');
  assert.equal(await rows.count(), 2);
  const web2 = rows.filter({ hasText: 'web-2' });
  assert.equal(await web2.locator('td').nth(1).innerText(), '200');
  const { entities } = await api(`streams/${stream.id}/entities`);
  const summary = entities.find((e) => e.entity === 'web-2');
  assert.equal(await web2.locator('td').nth(2).innerText(), String(summary.anomalies));
  assert.match(await web2.locator('td').nth(5).innerText(), /2026-01-01T02:30:00.000Z/);
  await shot('streams');
  await axe('streams');
});

test('a key entered while the first page still waits for the API leaves one page, which works', async () => {
  const fresh = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    // The first answer (to the page opened without a key) comes late, after the key is in.
    let first = true;
    let release;
    const held = new Promise((resolve) => { release = resolve; });
    await fresh.route('**/api/v1/algorithms', async (route) => {
      if (!first) return route.continue();
      first = false;
      await held;
      return route.continue();
    });
    await fresh.goto(BASE);
    await fresh.fill('#api-key', KEY);
    await fresh.click('#key-form button');
    await fresh.waitForSelector('#detect-form');
    release();
    await fresh.waitForResponse('**/api/v1/algorithms');
    await fresh.waitForTimeout(200);
    assert.equal(await fresh.locator('#detect-form').count(), 1, 'one detect form');
    assert.equal(await fresh.locator('#page .error:not([hidden])').count(), 0, 'the late answer shows nothing');
    await fresh.setInputFiles('#detect-file', BREASTW);
    await fresh.selectOption('#detect-algorithm', 'hbos');
    await fresh.click('#detect-run');
    await fresh.waitForSelector('#detect-flagged');
  } finally {
    await fresh.close();
  }
});

test('no script errors on any page', () => {
  assert.deepEqual(consoleErrors.filter((e) => !/status of 4\d\d/.test(e)), []);
});
