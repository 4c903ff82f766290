// MLflow's rules for metric, param and tag names and values, applied before anything is written so
// the local store never holds what a server would reject (the file store and the REST API share them).
export const LIMITS = {
  keyLength: 250,
  paramValue: 6000,
  // 5000 on MLflow 2.x servers (8000 on newer ones): the smaller one is safe for both.
  tagValue: 5000,
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  entitiesPerBatch: 1000,
  batchBytes: 1_000_000,
} as const;

const VALID = /^[/\w.\- ]*$/;

/** True when MLflow accepts `key` as a metric, param or tag name. */
export function isValidKey(key: string): boolean {
  return key.length > 0 && key.length <= LIMITS.keyLength && VALID.test(key) && normalizedPath(key) === key;
}

function normalizedPath(key: string): string {
  const parts: string[] = [];
  for (const p of key.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return (key.startsWith('/') ? '/' : '') + parts.join('/');
}

/**
 * Maps any string to a valid key: characters MLflow refuses become `_`, empty and dot-only path
 * segments go (a key is a file path in the store), and the result is cut to 250 characters.
 */
export function safeKey(key: string): string {
  const cleaned = key
    .replace(/[^/\w.\- ]/g, '_')
    .split('/')
    .filter((p) => p !== '' && p !== '.' && p !== '..')
    .join('/');
  const cut = cleaned.slice(0, LIMITS.keyLength).replace(/\/+$/, '');
  return cut === '' ? '_' : cut;
}
