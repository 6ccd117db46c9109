// A user's file read in the browser: the page needs the values to draw them (the API
// answers scores, not the input). The server reads the same bytes for the scores; the
// page checks that both counted the same rows before drawing one against the other.
// Parquet is binary: it goes to the API as it is, and is not drawn.

/** How the file is written: from its name, else from its first character. */
export function kindOf(name, text) {
  const lower = name.toLowerCase();
  if (lower.endsWith('.parquet')) return 'parquet';
  if (lower.endsWith('.ndjson') || lower.endsWith('.jsonl')) return 'ndjson';
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.csv') || lower.endsWith('.tsv') || lower.endsWith('.txt')) return 'csv';
  const first = (text ?? '').trimStart()[0];
  if (first === '[') return 'json';
  if (first === '{') return text.trim().includes('\n') ? 'ndjson' : 'json';
  return 'csv';
}

/** The delimiter of the header line: the most frequent of , ; tab | outside quotes. */
function guessDelimiter(text) {
  const line = text.slice(0, text.search(/\r?\n|$/));
  let best = ',';
  let bestCount = 0;
  for (const candidate of [',', ';', '\t', '|']) {
    let count = 0;
    let quoted = false;
    for (const c of line) {
      if (c === '"') quoted = !quoted;
      else if (c === candidate && !quoted) count += 1;
    }
    if (count > bestCount) [best, bestCount] = [candidate, count];
  }
  return best;
}

/** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF; blank lines skipped. */
export function parseCsv(text) {
  const delimiter = guessDelimiter(text);
  const records = [];
  let record = [];
  let value = '';
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRecord = () => {
    record.push(value);
    if (record.length > 1 || record[0] !== '') records.push(record);
    record = [];
    value = '';
  };
  for (; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { value += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else value += c;
    } else if (c === '"' && value === '') quoted = true;
    else if (c === delimiter) { record.push(value); value = ''; }
    else if (c === '\n') endRecord();
    else if (c === '\r') { if (text[i + 1] !== '\n') endRecord(); }
    else value += c;
  }
  if (value !== '' || record.length > 0) endRecord();
  const [columns = [], ...rows] = records;
  return { columns: columns.map((c) => c.trim()), rows, delimiter };
}

/** Objects as a table: the columns are their keys, in the order first seen. */
export function tableOfRecords(objects) {
  const columns = [];
  const seen = new Set();
  for (const object of objects) {
    if (object === null || typeof object !== 'object' || Array.isArray(object)) {
      throw new Error('the JSON rows must be objects (column name → value)');
    }
    for (const key of Object.keys(object)) if (!seen.has(key)) { seen.add(key); columns.push(key); }
  }
  const rows = objects.map((o) => columns.map((c) => (o[c] === undefined || o[c] === null ? '' : String(o[c]))));
  return { columns, rows, records: objects };
}

/** Reads a picked or dropped file: {name, kind, text | bytes, columns, rows}. */
export async function readFile(file) {
  const head = await file.slice(0, 64).text();
  const kind = kindOf(file.name, head);
  if (kind === 'parquet') {
    return { name: file.name, kind, bytes: await file.arrayBuffer(), columns: [], rows: [] };
  }
  return readText(file.name, kind, await file.text());
}

/** Reads pasted or loaded text of `kind` (csv, ndjson, json). */
export function readText(name, kind, text) {
  if (kind === 'csv') return { name, kind, text, ...parseCsv(text) };
  if (kind === 'ndjson') {
    const objects = text.split(/\r?\n/).filter((line) => line.trim()).map((line, k) => {
      try { return JSON.parse(line); } catch (e) { throw new Error(`line ${k + 1} is not JSON: ${e.message}`); }
    });
    return { name, kind, text, ...tableOfRecords(objects) };
  }
  let parsed;
  try { parsed = JSON.parse(text); } catch (e) { throw new Error(`the file is not JSON: ${e.message}`); }
  const objects = Array.isArray(parsed) ? parsed : parsed?.records;
  if (!Array.isArray(objects)) throw new Error('a JSON file must be an array of objects, or {"records": [...]}');
  return { name, kind, text, ...tableOfRecords(objects) };
}

/** The column's values as numbers (NaN where a cell is not one). */
export function numbers(table, column) {
  const k = table.columns.indexOf(column);
  const out = new Float64Array(table.rows.length);
  for (let r = 0; r < table.rows.length; r += 1) {
    const cell = table.rows[r][k];
    out[r] = cell === undefined || cell.trim() === '' ? NaN : Number(cell);
  }
  return out;
}

/** Whether most of the column's first 200 cells are numbers. */
export function isNumeric(table, column) {
  const k = table.columns.indexOf(column);
  const sample = table.rows.slice(0, 200).map((row) => row[k]).filter((c) => c !== undefined && c.trim() !== '');
  return sample.length > 0 && sample.filter((c) => Number.isFinite(Number(c))).length >= sample.length * 0.9;
}

/** A timestamp as epoch seconds, or NaN: ISO dates (UTC unless they say), epoch s or ms. */
export function epochSeconds(text) {
  const value = String(text).trim();
  if (/^-?\d+(\.\d+)?$/.test(value)) {
    const n = Number(value);
    if (n > 1e11) return n / 1000;
    return n > 1e8 ? n : NaN;
  }
  if (!/^\d{4}-\d\d-\d\d/.test(value)) return NaN;
  let iso = value.replace(' ', 'T');
  if (/T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(iso)) iso += 'Z';
  else if (/^\d{4}-\d\d-\d\d$/.test(iso)) iso += 'T00:00:00Z';
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms / 1000 : NaN;
}
