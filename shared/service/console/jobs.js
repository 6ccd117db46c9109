// Jobs: files scored in the background (api/v1/jobs). The list refreshes while a job
// is queued or running; results download as CSV. A new job uploads a file through
// PUT api/v1/uploads/{name} (the API's own door: the page may only talk to its origin).

import { h, field, num, download, onSubmit, showError, table, when } from './dom.js';
import { call, getJson } from './api.js';
import { algorithmCatalogue, algorithmChooser, thresholdChooser } from './algorithms.js';

const REFRESH_MS = 2000;
let timer = null;

/** Stops the refresh when the page is left. */
export function unmount() {
  clearTimeout(timer);
  timer = null;
}

export async function mount(page) {
  const error = h('div', { class: 'error', role: 'alert', hidden: true });
  const list = h('div', { id: 'jobs-list', 'aria-live': 'polite' });
  const { algorithms } = await algorithmCatalogue();

  const results = async (job) => {
    try {
      download(`job-${job.id}.csv`, await (await call(`jobs/${encodeURIComponent(job.id)}/results`)).blob());
    } catch (e) {
      showError(error, e);
    }
  };
  const progress = (job) => {
    const { parts_done: done, parts_total: total } = job.progress ?? {};
    if (job.state !== 'running' || !total) return job.state;
    return h('span', {}, `running ${done}/${total} `, h('progress', { max: total, value: done, 'aria-label': `job ${job.id} progress` }));
  };
  const refresh = async () => {
    clearTimeout(timer);
    const { jobs } = await getJson('jobs', { query: { limit: 50 } });
    list.replaceChildren(jobs.length === 0 ? h('p', {}, 'No jobs yet.') : table(`${jobs.length} most recent jobs`,
      ['Job', 'State', 'Input', 'Detector', 'Rows', 'Flagged', 'Submitted', 'Results'],
      jobs.map((job) => [job.id, progress(job), job.spec.object_key, job.spec.model_id ? `model ${job.spec.model_id}` : (job.spec.algorithm ?? 'auto'),
        num(job.summary?.rows), num(job.summary?.anomalies), when(job.created_at),
        job.state === 'succeeded' ? h('button', { type: 'button', onclick: () => results(job) }, `Download results of ${job.id.slice(0, 8)}`)
          : job.error ? h('span', { class: 'failed' }, job.error) : '']), 'jobs'));
    // A view left while loading is no longer shown: it stops refreshing.
    if (page.isConnected && jobs.some((job) => job.state === 'queued' || job.state === 'running')) {
      timer = setTimeout(() => refresh().catch((e) => showError(error, e)), REFRESH_MS);
    }
  };

  const file = h('input', { type: 'file', id: 'job-file', accept: '.csv,.json,.ndjson,.jsonl' });
  const ignore = h('input', { type: 'text', id: 'job-ignore', placeholder: 'label, id' });
  const chooser = algorithmChooser('job', algorithms);
  const threshold = thresholdChooser('job');
  const submit = h('button', { type: 'submit' }, 'Upload and start the job');
  const form = h('form', { id: 'job-form' },
    h('fieldset', {}, h('legend', {}, 'New job'), field('File', file), field('Columns to ignore', ignore, 'comma-separated'), chooser.element, threshold.element),
    submit);
  onSubmit(form, submit, error, async () => {
    const chosen = file.files[0];
    if (!chosen) throw new Error('choose a file first');
    const upload = await getJson('uploads', { method: 'POST', json: { filename: chosen.name } });
    const name = upload.api_upload_url.split('/').pop();
    await call(`uploads/${name}`, { method: 'PUT', body: chosen, type: 'application/octet-stream' });
    const ignored = ignore.value.split(',').map((c) => c.trim()).filter(Boolean);
    const { algorithm, parameters } = chooser.choice();
    await call('jobs', { method: 'POST', json: { object_key: upload.object_key, algorithm, parameters, ...threshold.fields(), ...(ignored.length ? { ignore_columns: ignored } : {}) } });
    await refresh();
  });
  page.append(h('h1', {}, 'Jobs'),
    h('p', { class: 'lead' }, 'Large files are scored in the background by the workers; results stay downloadable.'),
    error, list, form);
  await refresh();
}
