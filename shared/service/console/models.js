// Models: the tenant's stored models (GET /api/v1/models); train one from rows
// (POST /api/v1/models), show what it learnt, score rows with it
// (POST /api/v1/models/{id}/predict, drawn as Detect draws), delete it.

import { h, field, facts, num, onSubmit, showError, table, when } from './dom.js';
import { call, getJson } from './api.js';
import { picker, rowsRequest } from './picker.js';
import { algorithmCatalogue, algorithmChooser } from './algorithms.js';
import { showScores } from './detect.js';

export async function mount(page) {
  const error = h('div', { class: 'error', role: 'alert', hidden: true });
  const list = h('div', { id: 'models-list' });
  const detail = h('section', { id: 'model-detail', 'aria-label': 'Model' });
  const { algorithms } = await algorithmCatalogue();

  const refresh = async () => {
    const { models } = await getJson('models');
    list.replaceChildren(models.length === 0
      ? h('p', {}, 'No models yet: train one below.')
      : table(`${models.length} models`, ['Name', 'Algorithm', 'Rows', 'Features', 'Created', 'Action'],
        models.map((m) => [m.name ?? '(unnamed)', m.algorithm, num(m.training_rows), String(m.features.length), when(m.created_at),
          h('button', { type: 'button', onclick: () => open(m.id).catch((e) => showError(error, e)) }, `Open ${m.name ?? m.id}`)]), 'models'));
  };

  const open = async (id) => {
    showError(error, null);
    const model = await getJson(`models/${encodeURIComponent(id)}`);
    const data = picker('predict');
    const results = h('div', { id: 'predict-results' });
    const predict = h('button', { type: 'submit' }, 'Score these rows with the model');
    const form = h('form', {}, h('fieldset', {}, h('legend', {}, 'Rows to score'), data.element), predict);
    onSubmit(form, predict, error, async () => {
      const request = rowsRequest(data.table, [], { explain: true });
      const started = performance.now();
      const response = await getJson(`models/${encodeURIComponent(id)}/predict`, { method: 'POST', ...request });
      showScores(results, data.table, [], response, performance.now() - started);
    });
    const remove = h('button', { type: 'button', class: 'danger' }, 'Delete this model');
    remove.addEventListener('click', async () => {
      if (!confirm(`Delete model ${model.name ?? model.id}? Jobs and streams that name it will fail.`)) return;
      try {
        await call(`models/${encodeURIComponent(id)}`, { method: 'DELETE' });
        detail.replaceChildren(h('p', { role: 'status' }, `Deleted ${model.name ?? model.id}.`));
        await refresh();
      } catch (e) {
        showError(error, e);
      }
    });
    detail.replaceChildren(h('h2', {}, `Model ${model.name ?? model.id}`), facts([
      ['Id', model.id],
      ['Algorithm', model.algorithm],
      ['Parameters', JSON.stringify(model.parameters)],
      ['Trained on', `${num(model.training_rows)} rows`],
      ['Features', model.features.join(', ')],
      ['Automatic threshold', num(model.auto_threshold)],
      ['Created', when(model.created_at)],
    ], 'Model'), form, results, remove);
    detail.scrollIntoView?.();
  };

  const data = picker('train');
  const name = h('input', { type: 'text', id: 'train-name', placeholder: 'e.g. payments-v1' });
  const chooser = algorithmChooser('train', algorithms, 'iforest');
  const train = h('button', { type: 'submit' }, 'Train and store the model');
  const form = h('form', { id: 'train-form' },
    h('fieldset', {}, h('legend', {}, 'Training rows'), data.element),
    h('fieldset', {}, h('legend', {}, 'Model'), field('Name', name, 'unique among your models; optional'), chooser.element),
    train);
  onSubmit(form, train, error, async () => {
    const request = rowsRequest(data.table, data.ignored(), { ...chooser.choice(), name: name.value.trim() });
    const model = await getJson('models', { method: 'POST', ...request });
    await refresh();
    await open(model.id);
  });
  page.append(h('h1', {}, 'Models'),
    h('p', { class: 'lead' }, 'A model is a detector fitted once and kept, to score new rows the same way (api/v1/models).'),
    error, list, detail, h('h2', {}, 'Train a model'), form);
  await refresh();
}
