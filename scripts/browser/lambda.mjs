// The console through the Lambda function: the page, its files and its API calls all
// reach pynomaly-api through `cargo lambda watch`'s function-URL emulation, as they
// would through API Gateway. Detect on a sample must show the API's flagged count.
// Usage: node lambda.mjs BASE_URL API_KEY CSV_FILE SCREENSHOT   (run by scripts/e2e-lambda)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { launchOptions } from './support.mjs';

const [base, key, csv, screenshot] = process.argv.slice(2);
const url = base.replace(/\/?$/, '/');
const browser = await chromium.launch(launchOptions());
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  const response = await page.goto(url);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'] ?? '', /script-src 'self'/);
  await page.fill('#api-key', key);
  await page.click('#key-form button');
  await page.waitForSelector('#detect-file');
  await page.setInputFiles('#detect-file', csv);
  await page.waitForSelector('#detect-columns:not([hidden])');
  await page.selectOption('#detect-algorithm', 'ecod');
  await page.click('#detect-run');
  // The flagged count, or the page's own error: either ends the wait, and an error is told.
  await page.waitForSelector('#detect-flagged, #page .error:not([hidden])', { timeout: 60_000 });
  const problems = await page.locator('#page .error:not([hidden])').allInnerTexts();
  assert.deepEqual(problems, [], 'the page showed an error');
  const shown = await page.textContent('#detect-flagged');
  const api = new URL('api/v1/detect', url);
  api.search = 'algorithm=ecod&ignore_columns=label';
  const answer = await (await fetch(api, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'text/csv' }, body: readFileSync(csv) })).json();
  assert.equal(shown, String(answer.anomalies_detected));
  assert.equal(await page.locator('#detect-scatter canvas').count(), 1);
  assert.deepEqual(errors, []);
  await page.screenshot({ path: screenshot, fullPage: false });
  console.log(`console through the Lambda function: ok (${shown} rows flagged, as the API says)`);
} finally {
  await browser.close();
}
