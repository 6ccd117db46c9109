// The console's shell: the API key form, and the pages behind #detect, #timeseries,
// #models, #jobs and #streams. Each page module has `mount(main)`.

import { h } from './dom.js';
import { apiKey } from './api.js';
import { destroyCharts } from './charts.js';
import * as detect from './detect.js';
import * as series from './series.js';
import * as models from './models.js';
import * as jobs from './jobs.js';
import * as streams from './streams.js';

const PAGES = { detect, timeseries: series, models, jobs, streams };
const TITLES = { detect: 'Detect', timeseries: 'Time series', models: 'Models', jobs: 'Jobs', streams: 'Streams' };

const main = document.getElementById('page');
const keyForm = document.getElementById('key-form');
const keyInput = document.getElementById('api-key');
const keyState = document.getElementById('key-state');

function showKeyState() {
  keyState.textContent = apiKey.get() ? 'key set for this tab' : 'no key (fine when the server runs with --no-auth)';
}

keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  apiKey.set(keyInput.value.trim());
  keyInput.value = '';
  showKeyState();
  route();
});

let current = null;
async function route() {
  const name = location.hash.slice(1) in PAGES ? location.hash.slice(1) : 'detect';
  current?.unmount?.();
  destroyCharts();
  current = PAGES[name];
  document.title = `${TITLES[name]} · Pynomaly console`;
  for (const link of document.querySelectorAll('nav a')) {
    if (link.getAttribute('href') === `#${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  // Each visit mounts into a view of its own: a page still loading when the next one is
  // asked for (the key entered while the first page waits for the API) fills a view that
  // is no longer shown, instead of adding a second form beside the new one.
  const view = h('div', { class: 'view' });
  main.replaceChildren(view);
  main.setAttribute('aria-busy', 'true');
  try {
    await current.mount(view);
  } catch (error) {
    view.append(h('div', { class: 'error', role: 'alert' }, h('p', {}, error.message)));
  } finally {
    if (view.isConnected) main.removeAttribute('aria-busy');
  }
}

addEventListener('hashchange', route);
showKeyState();
route();
