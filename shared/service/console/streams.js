// Streams: live series scored a point at a time (api/v1/streams). Each stream's
// entities with their latest point and latest anomaly; refreshed on request.

import { h, facts, num, showError, table, when } from './dom.js';
import { call, getJson } from './api.js';

const methodName = (stream) => (typeof stream.method === 'string' ? stream.method : stream.method?.method ?? stream.method?.name ?? JSON.stringify(stream.method));

export async function mount(page) {
  const error = h('div', { class: 'error', role: 'alert', hidden: true });
  const list = h('div', { id: 'streams-list' });
  const detail = h('section', { id: 'stream-detail', 'aria-label': 'Stream' });

  const open = async (stream) => {
    showError(error, null);
    const { entities } = await getJson(`streams/${encodeURIComponent(stream.id)}/entities`);
    const last = (e) => (e.last_point ? `${e.last_point.timestamp ?? `point ${e.last_point.index}`}: ${Object.entries(e.last_point.values ?? {}).map(([k, v]) => `${k} = ${num(v)}`).join(', ')} (score ${num(e.last_point.score, 3)})` : '–');
    const alarm = (e) => (e.last_anomaly ? `${e.last_anomaly.timestamp ?? `point ${e.last_anomaly.index}`}${e.last_anomaly.field ? ` on ${e.last_anomaly.field}` : ''} (score ${num(e.last_anomaly.score, 3)})` : '–');
    const reset = async (e) => {
      if (!confirm(`Forget everything stream ${stream.name ?? stream.id} learnt about ${e.entity}?`)) return;
      try {
        await call(`streams/${encodeURIComponent(stream.id)}/entities/${encodeURIComponent(e.entity)}/reset`, { method: 'POST' });
        await open(stream);
      } catch (err) {
        showError(error, err);
      }
    };
    detail.replaceChildren(h('h2', {}, `Stream ${stream.name || stream.id}`),
      facts([['Id', stream.id], ['Method', methodName(stream)], ['Parameters', JSON.stringify(stream.parameters ?? {})],
        ['Value fields', (stream.value_fields ?? []).join(', ')], ['Entity field', stream.entity_field ?? '(one entity)'],
        ['Created', when(stream.created_at)]], 'Stream'),
      h('button', { type: 'button', onclick: () => open(stream).catch((e) => showError(error, e)) }, 'Refresh'),
      entities.length === 0 ? h('p', {}, 'No points yet: POST them to api/v1/streams/{id}/points.')
        : table(`${entities.length} entities`, ['Entity', 'Points', 'Anomalies', 'Late', 'Latest point', 'Latest anomaly', 'Action'],
          entities.map((e) => [e.entity, num(e.points), num(e.anomalies), num(e.late), last(e), alarm(e),
            h('button', { type: 'button', onclick: () => reset(e) }, `Reset ${e.entity}`)]), 'entities'));
  };

  const { streams } = await getJson('streams');
  list.replaceChildren(streams.length === 0
    ? h('p', {}, 'No streams yet. Create one with POST api/v1/streams (see the README), then send points.')
    : table(`${streams.length} streams`, ['Name', 'Method', 'Values', 'Created', 'Action'],
      streams.map((s) => [s.name || '(unnamed)', methodName(s), (s.value_fields ?? []).join(', '), when(s.created_at),
        h('button', { type: 'button', onclick: () => open(s).catch((e) => showError(error, e)) }, `Open ${s.name || s.id}`)]), 'streams'));
  page.append(h('h1', {}, 'Streams'),
    h('p', { class: 'lead' }, 'Points sent one at a time are scored against what each entity has shown before.'),
    error, list, detail);
}
