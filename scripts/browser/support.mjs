// Inputs and settings the console tests share.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Headless Debian chromium on a closed network (flags from the machine's notes). */
export function launchOptions() {
  return {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic'],
  };
}

/** axe-core's browser bundle. */
export function axeSource() {
  return readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
}

/**
 * A CPU-like series, 5-minute points over 3 days: a daily cycle, a little noise from a
 * fixed generator, two spikes, and a level shift two thirds in.
 */
export function series(n = 864) {
  let seed = 7;
  const noise = () => { seed = (seed * 48271) % 2147483647; return seed / 2147483647 - 0.5; };
  const start = Date.UTC(2026, 10, 2);
  const timestamps = [];
  const values = [];
  for (let i = 0; i < n; i += 1) {
    timestamps.push(new Date(start + i * 300_000).toISOString().replace('T', ' ').slice(0, 19));
    let v = 40 + 10 * Math.sin((2 * Math.PI * i) / 288) + 2 * noise();
    if (i === 300) v += 45;
    if (i === 520) v -= 40;
    if (i >= 600) v += 25;
    values.push(Number(v.toFixed(3)));
  }
  const csv = ['timestamp,value', ...timestamps.map((t, i) => `${t},${values[i]}`)].join('\n') + '\n';
  return { csv, values, timestamps };
}

/** Rows whose column names are markup: one numeric column, one of text. */
export function xssCsv() {
  const lines = ['"<img src=x onerror=alert(1)>",b,"<script>alert(2)</script>"'];
  for (let i = 0; i < 60; i += 1) lines.push(`${(i * 7) % 13},${(i * 5) % 11 + (i === 40 ? 50 : 0)},"<b>x${i}</b>"`);
  return lines.join('\n') + '\n';
}
