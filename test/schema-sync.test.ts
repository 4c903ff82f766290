// The checked-in JSON Schemas and the field reference must be exactly what `ablate schema`
// generates from the zod schemas; a stale copy would mislead editors and readers.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { generatedFiles } from '../src/spec/jsonschema.js';

for (const [rel, text] of Object.entries(generatedFiles())) {
  test(`${rel} is up to date (run \`npx ablate schema\`)`, () => {
    assert.equal(readFileSync(rel, 'utf8'), text);
  });
}

test('every field of the experiment schema has a description', () => {
  const js = JSON.parse(generatedFiles()['schemas/experiment.schema.json']!) as { properties: Record<string, unknown> };
  const missing: string[] = [];
  const walk = (node: unknown, path: string) => {
    if (!node || typeof node !== 'object') return;
    const n = node as { properties?: Record<string, { description?: string }>; anyOf?: unknown[]; oneOf?: unknown[]; items?: unknown };
    for (const [k, v] of Object.entries(n.properties ?? {})) {
      const p = path ? `${path}.${k}` : k;
      if (!v.description && !(k === 'kind' && path.includes('targets'))) missing.push(p);
      walk(v, p);
    }
    for (const alt of [...(n.anyOf ?? []), ...(n.oneOf ?? [])]) walk(alt, path);
    if (n.items) walk(n.items, `${path}[]`);
  };
  walk(js, '');
  assert.deepEqual(missing, []);
});
