// Console figures for docs/benchmarks.md: the page's weight, and how long the page takes
// to draw 100,000 rows (Detect) and 100,000 points (Time series), from the click to the
// charts on screen, beside the API's own time. Not a test: nothing here is asserted.
// Env as console.test.mjs (CONSOLE_URL, API_KEY). Run by `scripts/e2e-browser BIN --bench`.

import { chromium } from 'playwright-core';
import { launchOptions } from './support.mjs';

const BASE = process.env.CONSOLE_URL.replace(/\/?$/, '/');
const KEY = process.env.API_KEY;
const N = 100_000;

function rows(n) {
  let seed = 11;
  const random = () => { seed = (seed * 48271) % 2147483647; return seed / 2147483647; };
  const lines = ['a,b,c,d'];
  for (let i = 0; i < n; i += 1) {
    const far = i % 997 === 0 ? 6 : 0;
    lines.push([random() + far, random() * 2, random() - far, random() * 3].map((v) => v.toFixed(5)).join(','));
  }
  return lines.join('\n') + '\n';
}

function series(n) {
  const lines = ['timestamp,value'];
  const start = Date.UTC(2026, 0, 1);
  for (let i = 0; i < n; i += 1) {
    const v = 50 + 10 * Math.sin(i / 200) + ((i * 7919) % 101) / 50 + (i % 9973 === 0 ? 40 : 0);
    lines.push(`${new Date(start + i * 60_000).toISOString()},${v.toFixed(3)}`);
  }
  return lines.join('\n') + '\n';
}

const browser = await chromium.launch(launchOptions());
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const cdp = await page.context().newCDPSession(page);
await cdp.send('Network.enable');
let bytes = 0;
cdp.on('Network.loadingFinished', (event) => { bytes += event.encodedDataLength; });
await page.goto(BASE, { waitUntil: 'networkidle' });
const loaded = bytes;
const files = await page.evaluate(() => performance.getEntriesByType('resource').length + 1);
await page.fill('#api-key', KEY);
await page.click('#key-form button');
await page.waitForSelector('#detect-file');

const figures = [`page weight: ${(loaded / 1024).toFixed(1)} KB over the wire in ${files} files (as sent, gzipped where the server compresses; the catalogue call included)`];
for (let round = 0; round < 3; round += 1) {
  await page.goto(`${BASE}#detect`);
  await page.waitForSelector('#detect-file');
  await page.setInputFiles('#detect-file', { name: 'rows.csv', mimeType: 'text/csv', buffer: Buffer.from(rows(N)) });
  await page.waitForSelector('#detect-columns:not([hidden])');
  await page.selectOption('#detect-algorithm', 'hbos');
  const started = Date.now();
  await page.click('#detect-run');
  await page.waitForSelector('#detect-scatter canvas', { timeout: 120_000 });
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  const total = Date.now() - started;
  const server = await page.evaluate(() => document.querySelector('.facts').textContent.match(/([\d.]+) ms on the server, ([\d.]+) ms with/).slice(1).map(Number));
  const over = page.locator('#detect-scatter .u-over');
  await page.evaluate(() => document.querySelector('#detect-scatter').scrollIntoView());
  await page.waitForTimeout(500);
  const box = await over.boundingBox();
  const hoverStarted = Date.now();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.move(box.x + box.width / 2 + 3, box.y + box.height / 2 + 3);
  await page.waitForTimeout(50);
  const hover = Date.now() - hoverStarted - 50;
  figures.push(`detect ${N.toLocaleString('en-US')} rows x 4 (hbos): ${total} ms from the click to both charts drawn; server ${server[0]} ms, request ${server[1].toFixed(0)} ms; hover ${hover} ms`);
}
for (let round = 0; round < 3; round += 1) {
  await page.goto(`${BASE}#timeseries`);
  await page.waitForSelector('#series-file');
  await page.setInputFiles('#series-file', { name: 'series.csv', mimeType: 'text/csv', buffer: Buffer.from(series(N)) });
  await page.waitForFunction(() => document.querySelector('#series-value').value === 'value');
  await page.selectOption('#series-method', 'rolling-z');
  const started = Date.now();
  await page.click('#series-run');
  await page.waitForSelector('#series-chart canvas', { timeout: 120_000 });
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  const total = Date.now() - started;
  const server = await page.evaluate(() => document.querySelector('.facts').textContent.match(/([\d.]+) ms on the server, ([\d.]+) ms with/).slice(1).map(Number));
  figures.push(`time series ${N.toLocaleString('en-US')} points (rolling-z): ${total} ms from the click to the chart drawn; server ${server[0]} ms, request ${server[1].toFixed(0)} ms`);
}
await browser.close();
console.log(figures.join('\n'));
