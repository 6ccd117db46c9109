// Calls to the public API. URLs are relative to the page, so a path prefix in front of
// the Router (a proxy, an API Gateway stage) still reaches the API beside the page.
// The key lives in sessionStorage: it stays in this tab and is gone when the tab closes.

const KEY = 'pynomaly.api-key';

export const apiKey = {
  get: () => sessionStorage.getItem(KEY) ?? '',
  set: (value) => (value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY)),
};

/** An API answer other than 2xx, with the problem+json's title and detail. */
export class ApiError extends Error {
  constructor(status, title, detail) {
    super(`${title}: ${detail}`);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

function baseUrl() {
  const path = location.pathname;
  return location.origin + (path.endsWith('/') ? path : path.replace(/[^/]*$/, ''));
}

/** The URL of `api/v1/<path>` with the query's non-empty values. */
export function apiUrl(path, query = {}) {
  const url = new URL(`api/v1/${path}`, baseUrl());
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
  }
  return url;
}

/**
 * Calls the API: `json` is sent as a JSON body, or `body` with content type `type`.
 * Throws ApiError with the server's own words on a non-2xx answer.
 */
export async function call(path, { method = 'GET', query, json, body, type } = {}) {
  const headers = {};
  const key = apiKey.get();
  if (key) headers['x-api-key'] = key;
  let payload = body;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(json);
  } else if (body !== undefined) {
    headers['content-type'] = type;
  }
  let response;
  try {
    response = await fetch(apiUrl(path, query), {
      method, headers, body: payload, cache: 'no-store', credentials: 'omit',
    });
  } catch (error) {
    throw new ApiError(0, 'No answer', `the API did not answer (${error.message})`);
  }
  if (!response.ok) {
    let title = response.statusText || 'Error';
    let detail = `HTTP ${response.status}`;
    try {
      const problem = await response.json();
      title = problem.title ?? title;
      detail = problem.detail ?? detail;
    } catch {
      // Not problem+json (a proxy's page): the status says enough.
    }
    if (response.status === 401) detail += ' (enter an API key above; `pynomaly keys create --tenant NAME` makes one)';
    throw new ApiError(response.status, title, detail);
  }
  return response;
}

/** `call`, read as JSON. */
export async function getJson(path, options) {
  return (await call(path, options)).json();
}
