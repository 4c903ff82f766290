// Issue 13: the property behind "never a stale result". Every field of the experiment schema is
// changed, one at a time, for each task, and the stage keys are computed:
//   - a field on a stage's ignore list must leave that stage's spec slice (its key's spec part) alone;
//   - every field must change some stage's key somewhere, unless it is ignored or listed below as
//     one no stage output depends on (a field the code reads but no stage declares shows up here);
//   - for the stages run here on tiny data (ingest, preprocess, and the train stage of each task),
//     all the changes that leave the stage's key alone are applied together and the stage is run
//     again: its output must be the same bytes. Output that changes under an unchanged key is the
//     stale result this issue is about; the failing fields are then named one by one.
// The walk covers the whole schema: a new field without a mutation here fails the first test.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { NO_PARTS, specSlice } from '../src/pipeline/keys.js';
import { type PlanEntry, planPipeline } from '../src/pipeline/plan.js';
import type { StageContext, StageImpl, StageKind } from '../src/pipeline/types.js';
import { setIn } from '../src/spec/overrides.js';
import { experimentSchema, type ExperimentSpec, TASKS } from '../src/spec/schema.js';

type Obj = Record<string, unknown>;
type Task = (typeof TASKS)[number];

const tmp = mkdtempSync(join(tmpdir(), 'ablate-keyprop-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
before(async () => {
  await tf.setBackend('cpu');
});

// Two tiny class folders (for dataset.path) and a model file (for model.base.path, loss networks).
for (const d of ['folder-a', 'folder-b']) for (const c of ['circle', 'square']) {
  mkdirSync(join(tmp, d, c), { recursive: true });
  writeFileSync(join(tmp, d, c, '0.png'), `${d}${c}`);
}
writeFileSync(join(tmp, 'model.json'), '{"modelTopology": {}, "weightsManifest": []}');

// Two classes of 6 images: 5 to train and 1 to validate each.
const common = { seed: 0, dataset: { source: 'shapes', count: 12, classes: ['circle', 'square'] }, cache: { dir: join(tmp, 'cache') }, track: { uri: join(tmp, 'runs') } };
const BASES: Record<Task, Obj> = {
  classify: { ...common, task: 'classify', preprocess: { size: 8, workers: 1 }, model: { base: { arch: 'convnet', width: 2, stages: 1 } }, train: { epochs: 1, batchSize: 4, backend: 'cpu' } },
  'super-resolution': {
    ...common,
    task: 'super-resolution',
    // 12: SSIM's 11×11 window must fit.
    preprocess: { size: 12, downscale: 2, workers: 1 },
    model: { base: { arch: 'convnet', width: 2, stages: 1 }, superres: { blocks: 1, filters: 2 } },
    loss: { terms: [{ kind: 'pixel' }] },
    train: { epochs: 1, batchSize: 4, backend: 'cpu' },
  },
  gan: { ...common, task: 'gan', preprocess: { size: 8, channels: 1, normalize: 'symmetric', workers: 1 }, gan: { kind: 'dcgan', latent: 2, width: 2, sampleEvery: 100 }, train: { steps: 2, batchSize: 4, backend: 'cpu' } },
};

// A GAN that has the quality score (28×28×1 digits), which gan.stop needs.
const SCORED_GAN = { 'dataset.source': 'mnist', 'dataset.classes': ['0', '1'], 'preprocess.size': 28, 'dataset.limit': { train: 8, val: 4 } };
const perEpoch = (t: Task) => (t === 'gan' ? null : {}); // the schema rejects train.stop on a GAN (gan.stop instead)

/**
 * Changes the generic rule cannot make (strings, unions, lists, fields that need a context):
 * `set` the new values, on `base` (changes to the task's base spec); no `set`: the generic new
 * value on that base; null: the field does not apply (with the reason).
 */
const SPECIAL: Record<string, (task: Task) => { set?: Record<string, unknown>; base?: Record<string, unknown> } | null> = {
  ...Object.fromEntries(['metric', 'mode', 'patience', 'minDelta', 'maxEpochs', 'restoreBest'].map((f) => [`train.stop.${f}`, perEpoch])),
  ...Object.fromEntries(['metric', 'every', 'patience', 'minDelta', 'samples', 'restoreBest'].map((f) => [`gan.stop.${f}`, (t: Task) => (t === 'gan' ? { base: SCORED_GAN } : {})])),
  extends: () => null, // resolved away before anything else sees the spec
  name: () => ({ set: { name: 'other' } }),
  description: () => ({ set: { description: 'other' } }),
  task: () => null, // a whole other pipeline: covered by every task being walked
  'dataset.source': () => ({ set: { 'dataset.source': 'mnist' } }),
  'dataset.path': () => ({ base: { 'dataset.source': 'folder', 'dataset.path': join(tmp, 'folder-a') }, set: { 'dataset.path': join(tmp, 'folder-b') } }),
  'dataset.classes': () => ({ set: { 'dataset.classes': ['circle', 'ellipse'] } }),
  'dataset.verify': () => ({ base: { 'dataset.source': 'folder', 'dataset.path': join(tmp, 'folder-a') }, set: { 'dataset.verify': 'content' } }),
  'dataset.targets': () => ({ set: { 'dataset.targets': { kind: 'attributes' } } }),
  'preprocess.size': (t) => ({ set: { 'preprocess.size': t === 'super-resolution' ? 16 : 12 } }),
  'preprocess.fill': () => ({ set: { 'preprocess.fill': '#ffffff' } }),
  'preprocess.channels': (t) => ({ set: { 'preprocess.channels': t === 'gan' ? 3 : 1 } }),
  'preprocess.downscale': (t) => ({ set: { 'preprocess.downscale': t === 'super-resolution' ? 4 : 2 } }),
  'model.base.stemStride': () => ({ set: { 'model.base.stemStride': 2 } }),
  'model.base.path': () => ({ set: { 'model.base.path': join(tmp, 'model.json') } }),
  'model.base.pretrain.classes': () => ({ base: { 'model.base.pretrain': {} }, set: { 'model.base.pretrain.classes': ['circle', 'square'] } }),
  'model.cut': () => ({ set: { 'model.cut': 'before-head' } }),
  'model.trainable': () => ({ base: { 'model.cut': 'before-head' }, set: { 'model.trainable': 'all' } }),
  'loss.terms': (t) => ({ set: { 'loss.terms': t === 'super-resolution' ? [{ kind: 'pixel', distance: 'mae' }] : [{ kind: 'mse' }] } }),
  'train.stop.metric': (t) => (t === 'gan' ? null : { set: { 'train.stop.metric': 'train_loss' } }),
  'gan.critic.warmup.steps': () => ({ set: { 'gan.critic.warmup': { steps: 3, generatorSteps: 2 } } }),
  'gan.critic.warmup.generatorSteps': () => ({ base: { 'gan.critic.warmup': { steps: 3, generatorSteps: 2 } }, set: { 'gan.critic.warmup.generatorSteps': 1 } }),
  'gan.critic.periodic.steps': () => ({ set: { 'gan.critic.periodic': { steps: 3, every: 2 } } }),
  'gan.critic.periodic.every': () => ({ base: { 'gan.critic.periodic': { steps: 3, every: 2 } }, set: { 'gan.critic.periodic.every': 3 } }),
  'track.uri': () => ({ set: { 'track.uri': join(tmp, 'runs2') } }),
  'track.experiment': () => ({ set: { 'track.experiment': 'other' } }),
  'track.runName': () => ({ set: { 'track.runName': 'other' } }),
  'track.tags': () => ({ set: { 'track.tags': { a: 'b' } } }),
  'cache.dir': () => ({ set: { 'cache.dir': join(tmp, 'cache2') } }),
};

/**
 * Fields no stage output depends on at all, with why (the others either change a key somewhere
 * or are on a stage's ignore list).
 */
const NO_OUTPUT: Record<string, string> = {
  name: 'the run and experiment name',
  description: 'free text stored with the run',
  'track.uri': 'where the run is recorded',
  'track.experiment': 'where the run is recorded',
  'track.runName': 'what the run is called',
  'track.tags': 'tags of the run',
  'cache.dir': 'where the stage outputs are kept (the folder, not the key)',
  'cache.enabled': 'whether outputs are reused, not what they are',
  'evaluate.quality': 'switches the GAN quality stages, which need 28×28 MNIST (not the tiny GAN here)',
  'gan.samples': 'samples of the GAN quality score (a stage the tiny GAN here does not have)',
};

interface Leaf {
  path: string;
  node: Obj;
}

function leaves(node: Obj, path: string[] = []): Leaf[] {
  const props = node.properties as Record<string, Obj> | undefined;
  if (props) return Object.entries(props).flatMap(([k, v]) => leaves(v, [...path, k]));
  return [{ path: path.join('.'), node }];
}

const schemaLeaves = leaves(JSON.parse(readFileSync('schemas/experiment.schema.json', 'utf8')) as Obj);

function get(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Obj)[k] : undefined), obj);
}

function apply(input: Obj, set: Record<string, unknown>): Obj {
  return Object.entries(set).reduce((o, [p, v]) => setIn(o, p.split('.'), v), input);
}

const parses = (input: Obj) => experimentSchema.safeParse(input).success;

/** Candidate new values for a plain enum, boolean or number field, from its JSON Schema. */
function candidates(leaf: Leaf, current: unknown): unknown[] {
  const n = leaf.node;
  if (Array.isArray(n.enum)) return (n.enum as unknown[]).filter((v) => v !== current);
  if (n.type === 'boolean') return [current === undefined ? true : !current];
  if (n.type === 'integer' || n.type === 'number') {
    const int = n.type === 'integer';
    const all = typeof current === 'number' ? (int ? [current + 1, current - 1, current * 2] : [current * 0.5, current + 0.5, current * 2, (current + 1) / 2]) : int ? [2, 3, 1] : [0.5, 0.25, 2];
    return all.filter((v) => v !== current);
  }
  return [];
}

interface Mutation {
  field: string;
  base: Obj;
  changed: Obj;
}

function mutation(task: Task, leaf: Leaf): Mutation | null | undefined {
  const s = SPECIAL[leaf.path]?.(task);
  if (s === null) return null;
  const base = apply(BASES[task], s?.base ?? {});
  if (s?.set) return { field: leaf.path, base, changed: apply(base, s.set) };
  const current = get(experimentSchema.parse(base), leaf.path);
  for (const v of candidates(leaf, current)) {
    const changed = apply(base, { [leaf.path]: v });
    if (parses(changed)) return { field: leaf.path, base, changed };
  }
  return undefined;
}

const plans = new Map<string, Map<StageKind, PlanEntry>>();
async function plan(input: Obj): Promise<Map<StageKind, PlanEntry>> {
  const k = JSON.stringify(input);
  let p = plans.get(k);
  if (!p) {
    p = new Map((await planPipeline(experimentSchema.parse(input))).map((s) => [s.kind, s]));
    plans.set(k, p);
  }
  return p;
}

const ignoredBy = (impl: StageImpl, field: string) => Object.keys(impl.ignores ?? {}).some((x) => field === x || field.startsWith(`${x}.`));

const mutations = new Map<Task, Mutation[]>();

test('every field of the schema is changed for every task, and an ignored field leaves its stage\'s key alone', async () => {
  const missing: string[] = [];
  const changesSomething = new Set<string>();
  const ignoredSomewhere = new Set<string>();
  for (const task of TASKS) {
    const list: Mutation[] = [];
    for (const leaf of schemaLeaves) {
      const m = mutation(task, leaf);
      if (m === null) continue;
      if (m === undefined) {
        missing.push(`${task}: ${leaf.path}`);
        continue;
      }
      if (!parses(m.base) || !parses(m.changed)) {
        missing.push(`${task}: ${leaf.path} (the mutation does not validate)`);
        continue;
      }
      list.push(m);
      const [a, b] = [await plan(m.base), await plan(m.changed)];
      if ([...a.keys()].join() !== [...b.keys()].join() || [...a.values()].some((s) => b.get(s.kind)!.key !== s.key)) changesSomething.add(m.field);
      for (const [kind, s] of a) {
        const t = b.get(kind);
        if (!t || !ignoredBy(s.impl, m.field)) continue;
        ignoredSomewhere.add(m.field);
        assert.equal(t.parts.spec, s.parts.spec, `${task}: ${m.field} is on the ${kind} stage's ignore list but changes its key`);
      }
    }
    mutations.set(task, list);
  }
  assert.deepEqual(missing, [], 'fields the walk cannot change: add them to SPECIAL');
  const inert = schemaLeaves.map((l) => l.path).filter((f) => !changesSomething.has(f) && !ignoredSomewhere.has(f) && !(f in NO_OUTPUT) && SPECIAL[f]?.('classify') !== null);
  assert.deepEqual(inert, [], 'fields that change no stage key in any task, are on no ignore list and not in NO_OUTPUT: a stage that uses them must declare them');
  assert.ok(schemaLeaves.length >= 90, `${schemaLeaves.length} fields`);
});

// ---- running the stages -------------------------------------------------------------------------

const SKIP_JSON = /seconds|timings|time$|^started|per_s|PerSecond/i;
function digest(dir: string, only?: string[]): string {
  const h = createHash('sha256');
  const strip = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(strip) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k]) => !SKIP_JSON.test(k)).map(([k, x]) => [k, strip(x)])) : v;
  const file = (p: string) => {
    const name = p.slice(p.lastIndexOf('/') + 1);
    // A model.json holds the architecture, and layer names tfjs numbers per process; the weights are the numbers.
    if (name === 'model.json') return;
    // Timings are stripped, and paths inside the output folder name the folder, which differs between runs.
    if (name.endsWith('.json')) h.update(`${relative(dir, p)}\0${JSON.stringify(strip(JSON.parse(readFileSync(p, 'utf8')))).replaceAll(dir, '<out>')}\n`);
    else h.update(`${relative(dir, p)}\0`).update(readFileSync(p));
  };
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else file(p);
    }
  };
  for (const part of only ?? ['']) {
    const p = join(dir, part);
    if (statSync(p).isDirectory()) walk(p);
    else file(p);
  }
  return h.digest('hex');
}

let runs = 0;
const byKey = new Map<string, string>();
async function runStage(s: PlanEntry, spec: ExperimentSpec, inputs: Map<StageKind, string>): Promise<string> {
  const out = join(tmp, 'out', `${s.kind}-${runs++}`);
  mkdirSync(out, { recursive: true });
  const ctx: StageContext = {
    spec,
    stage: { kind: s.kind, key: s.key, inputs: s.inputs, cacheable: s.cacheable, dir: out, slice: specSlice(spec, s.impl), parts: NO_PARTS },
    out,
    input: (k) => inputs.get(k) ?? assert.fail(`no input ${k}`),
    log: { info() {}, warn() {} },
    progress: { start() {}, tick() {}, done() {} },
    run: null,
    signal: new AbortController().signal,
  };
  await s.impl.run(ctx);
  return out;
}

// What of a stage's folder is its output (checkpoints, sample grids and logs are how it got there).
const OUTPUT: Partial<Record<StageKind, Partial<Record<Task, string[]>>>> = {
  train: { classify: ['final'], 'super-resolution': ['model'], gan: ['generator', 'generator.json'] },
};

/** All the changes that leave `kind`'s key alone, applied together (those that combine). */
async function neutralTogether(task: Task, kind: StageKind): Promise<{ input: Obj; fields: Mutation[] }> {
  const base = BASES[task];
  const key = (await plan(base)).get(kind)!.key;
  let input = base;
  const fields: Mutation[] = [];
  for (const m of mutations.get(task)!) {
    if (JSON.stringify(m.base) !== JSON.stringify(base)) continue; // needs another starting spec
    const one = (await plan(m.changed)).get(kind);
    if (!one || one.key !== key) continue;
    const next = apply(input, Object.fromEntries([[m.field, get(m.changed, m.field)]]));
    if (!parses(next) || (await plan(next)).get(kind)?.key !== key) continue;
    input = next;
    fields.push(m);
  }
  return { input, fields };
}

for (const [task, kinds] of [
  ['classify', ['ingest', 'preprocess', 'train']],
  ['super-resolution', ['train']],
  ['gan', ['train']],
] as const) {
  test(`${task}: ${kinds.join(', ')} give the same output for every change that leaves their key alone`, async () => {
    const base = BASES[task];
    const p = await plan(base);
    const spec = experimentSchema.parse(base);
    // The base pipeline up to the train stage, run once: the inputs of every stage checked.
    const done = new Map<StageKind, string>();
    for (const s of p.values()) {
      if (s.kind === 'train' || s.kind === 'evaluate') break;
      // The tasks share one dataset: its ingest output is made once.
      const dir = byKey.get(s.key) ?? (await runStage(s, spec, done));
      byKey.set(s.key, dir);
      done.set(s.kind, dir);
    }
    for (const kind of kinds) {
      const s = p.get(kind)!;
      const before = done.get(kind) ?? (await runStage(s, spec, done));
      const only = OUTPUT[kind]?.[task];
      const { input, fields } = await neutralTogether(task, kind);
      assert.ok(fields.length >= 10, `${kind}: only ${fields.length} neutral changes`);
      const changedSpec = experimentSchema.parse(input);
      const afterDir = await runStage((await plan(input)).get(kind)!, changedSpec, done);
      if (digest(afterDir, only) === digest(before, only)) continue;
      // Name the culprits: each change alone.
      const culprits: string[] = [];
      for (const m of fields) {
        const one = await runStage((await plan(m.changed)).get(kind)!, experimentSchema.parse(m.changed), done);
        if (digest(one, only) !== digest(before, only)) culprits.push(m.field);
      }
      assert.fail(`${task} ${kind}: the output changed under the same key, for ${culprits.join(', ') || 'a combination of the neutral changes'}`);
    }
  });
}

test('docs/caching.md names every field on every stage\'s ignore list', async () => {
  const { loadTaskStages } = await import('../src/pipeline/registry.js');
  const doc = readFileSync('docs/caching.md', 'utf8');
  for (const task of TASKS) {
    for (const { impl } of await loadTaskStages(task)) {
      for (const f of Object.keys(impl.ignores ?? {})) assert.ok(doc.includes(`\`${f}\``), `${task} ${impl.kind} ignores ${f}: docs/caching.md does not say so`);
    }
  }
});
