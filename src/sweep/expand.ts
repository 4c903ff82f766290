// Sweep expansion, Hydra BasicSweeper style: a pure function from the sweep file and the
// command-line arguments to the ordered list of trials, each a list of overrides of the base
// spec. Nothing is read or launched here, so the whole behaviour is table-tested.
import { isDeepStrictEqual } from 'node:util';
import { parseOverride } from '../spec/overrides.js';
import { experimentSchema, type SweepSpec } from '../spec/schema.js';
import { CliAxisError, type CliSweepArgs } from './cli-axes.js';
import { draw, mulberry32 } from './random.js';

/** `variant` and `seed` are axes like the fields: `ablate.axis.variant`, `ablate.axis.seed`. */
export const VARIANT_AXIS = 'variant';
export const SEED_AXIS = 'seed';

export type AxisSource = 'grid' | 'random' | 'variants' | 'seeds' | 'cli';

export interface AxisInfo {
  path: string;
  source: AxisSource;
  /** Seeds are replicates: compare aggregates over them instead of grouping by them. */
  replicate: boolean;
}

/** Where an override came from, so a bad value is reported where the user wrote it. */
export type Origin = { kind: 'sweep'; at: (string | number)[] } | { kind: 'cli'; text: string };

export interface TrialOverride {
  path: string;
  /** `path=value` as `ablate run` takes it; parses back to the same value. */
  text: string;
  origin: Origin;
}

export interface TrialPlan {
  index: number;
  /** Short and readable: `crop=border,seed=0`. */
  name: string;
  /** Axis path → the value of this trial, in axis order. */
  axes: Record<string, unknown>;
  /** In application order; later ones win. */
  overrides: TrialOverride[];
}

export interface Expansion {
  axes: AxisInfo[];
  trials: TrialPlan[];
}

interface AxisValues {
  path: string;
  source: AxisSource;
  values: { value: unknown; text: string; origin: Origin }[];
}

/**
 * The override text for a value from YAML. A string goes as typed when it reads back as itself
 * (`crop=center`, `fill=#000000`: an override's `#` is text), quoted otherwise (`"a: b"`); the
 * field's type decides how the child parses it, so each candidate is checked by parsing it.
 */
export function overrideText(path: string, value: unknown): string {
  const candidates: string[] = [];
  if (typeof value === 'string') candidates.push(value, JSON.stringify(value), `'${value.replaceAll("'", "''")}'`);
  else candidates.push(JSON.stringify(value));
  for (const c of candidates) {
    try {
      if (isDeepStrictEqual(parseOverride(`${path}=${c}`, experimentSchema).value, value)) return `${path}=${c}`;
    } catch {
      break; // an unknown field: validation reports it with a location
    }
  }
  return `${path}=${candidates[0]}`;
}

function typedCli(path: string, raw: string): unknown {
  return parseOverride(`${path}=${raw}`, experimentSchema).value;
}

function seedValue(path: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new CliAxisError(`${path}=${raw}: a seed is a non-negative integer`);
  return n;
}

function short(paths: string[]): Map<string, string> {
  const last = (p: string) => p.split('.').at(-1)!;
  const out = new Map<string, string>();
  for (const p of paths) out.set(p, paths.filter((q) => last(q) === last(p)).length > 1 ? p : last(p));
  return out;
}

export function valueLabel(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function expandSweep(sweep: SweepSpec, cli: CliSweepArgs = { axes: [], fixed: [] }): Expansion {
  const cliPaths = new Map<string, 'axis' | 'fixed'>([...cli.axes.map((a) => [a.path, 'axis'] as const), ...cli.fixed.map((f) => [f.path, 'fixed'] as const)]);

  // Variants: the spec's, narrowed by `variant=a,b` (or `variant=a`) on the command line.
  let variantNames = sweep.variants ? Object.keys(sweep.variants) : [];
  const cliVariant = [...cli.axes.map((a) => ({ path: a.path, raws: a.raws })), ...cli.fixed.map((f) => ({ path: f.path, raws: [f.raw] }))].find((a) => a.path === VARIANT_AXIS);
  if (cliVariant) {
    const unknown = cliVariant.raws.filter((r) => !variantNames.includes(r));
    if (unknown.length > 0) throw new CliAxisError(`variant=${cliVariant.raws.join(',')}: no variant named ${unknown.join(', ')} (the sweep has ${variantNames.join(', ') || 'none'})`);
    variantNames = cliVariant.raws;
  }

  // Grid axes in file order; a command-line axis replaces the one of the same field in place.
  const grid: AxisValues[] = [];
  for (const [path, values] of Object.entries(sweep.grid)) {
    if (cliPaths.has(path)) {
      const a = cli.axes.find((x) => x.path === path);
      if (a) grid.push({ path, source: 'cli', values: a.raws.map((raw) => ({ value: typedCli(path, raw), text: `${path}=${raw}`, origin: { kind: 'cli', text: `${path}=${a.raws.join(',')}` } })) });
      continue;
    }
    grid.push({ path, source: 'grid', values: values.map((value, i) => ({ value, text: overrideText(path, value), origin: { kind: 'sweep', at: ['grid', path, i] } })) });
  }
  for (const a of cli.axes) {
    if (a.path === VARIANT_AXIS || a.path === SEED_AXIS || grid.some((g) => g.path === a.path)) continue;
    grid.push({ path: a.path, source: 'cli', values: a.raws.map((raw) => ({ value: typedCli(a.path, raw), text: `${a.path}=${raw}`, origin: { kind: 'cli', text: `${a.path}=${a.raws.join(',')}` } })) });
  }

  // Random draws, one row of values per draw; fields set on the command line are not drawn.
  const randomPaths = Object.keys(sweep.random?.params ?? {}).filter((p) => !cliPaths.has(p));
  const draws: Record<string, unknown>[] = [];
  if (sweep.random && randomPaths.length > 0) {
    const u = mulberry32(sweep.random.seed);
    for (let d = 0; d < sweep.random.n; d++) {
      const row: Record<string, unknown> = {};
      for (const p of Object.keys(sweep.random.params)) {
        const x = u(); // drawn even when not used, so removing one param keeps the others' draws
        if (randomPaths.includes(p)) row[p] = draw(sweep.random.params[p]!, x);
      }
      draws.push(row);
    }
  }

  // Seeds: the spec's list, replaced by `seed=…` on the command line.
  let seeds: { value: number; text: string; origin: Origin }[] | undefined = sweep.seeds?.map((s, i) => ({ value: s, text: `seed=${s}`, origin: { kind: 'sweep', at: ['seeds', i] } }));
  const cliSeed = cli.axes.find((a) => a.path === SEED_AXIS) ?? cli.fixed.map((f) => ({ path: f.path, raws: [f.raw] })).find((f) => f.path === SEED_AXIS);
  if (cliSeed) {
    const origin: Origin = { kind: 'cli', text: `seed=${cliSeed.raws.join(',')}` };
    seeds = cliSeed.raws.map((raw) => ({ value: seedValue(SEED_AXIS, raw), text: `seed=${raw}`, origin }));
  }

  const axes: AxisInfo[] = [
    ...(variantNames.length > 0 ? [{ path: VARIANT_AXIS, source: (cliVariant ? 'cli' : 'variants') as AxisSource, replicate: false }] : []),
    ...grid.map((g) => ({ path: g.path, source: g.source, replicate: false })),
    ...(draws.length > 0 ? randomPaths.map((p) => ({ path: p, source: 'random' as AxisSource, replicate: false })) : []),
    ...(seeds ? [{ path: SEED_AXIS, source: (cliSeed ? 'cli' : 'seeds') as AxisSource, replicate: true }] : []),
  ];
  // One-valued axes are still axes (tagged, shown), but trial names only carry what varies.
  const names = short(axes.map((a) => a.path));

  // Every trial's overrides, in the order they apply: sweep-wide, variant, grid, random, seed, then
  // single-valued command-line overrides, which win over everything else.
  const common: TrialOverride[] = Object.entries(sweep.overrides)
    .filter(([path]) => !cliPaths.has(path))
    .map(([path, value]) => ({ path, text: overrideText(path, value), origin: { kind: 'sweep', at: ['overrides', path] } }));
  const fixed: TrialOverride[] = cli.fixed
    .filter((f) => f.path !== SEED_AXIS && f.path !== VARIANT_AXIS)
    .map((f) => ({ path: f.path, text: f.text, origin: { kind: 'cli', text: f.text } }));
  for (const f of cli.fixed) if (f.path !== SEED_AXIS && f.path !== VARIANT_AXIS) typedCli(f.path, f.raw); // unknown fields fail here, with a suggestion

  const trials: TrialPlan[] = [];
  const variantRows = variantNames.length > 0 ? variantNames : [undefined];
  const drawRows = draws.length > 0 ? draws : [undefined];
  const seedRows = seeds ?? [undefined];
  const gridRows = cartesian(grid.map((g) => g.values));
  for (const variant of variantRows) {
    for (const gridRow of gridRows) {
      for (const drawRow of drawRows) {
        for (const seed of seedRows) {
          const axisValues: Record<string, unknown> = {};
          const overrides: TrialOverride[] = [...common];
          if (variant !== undefined) {
            axisValues[VARIANT_AXIS] = variant;
            for (const [path, value] of Object.entries(sweep.variants![variant]!)) {
              if (cliPaths.get(path) === 'fixed') continue;
              overrides.push({ path, text: overrideText(path, value), origin: { kind: 'sweep', at: ['variants', variant, path] } });
            }
          }
          gridRow.forEach((v, i) => {
            const path = grid[i]!.path;
            axisValues[path] = v.value;
            overrides.push({ path, text: v.text, origin: v.origin });
          });
          if (drawRow) {
            for (const [path, value] of Object.entries(drawRow)) {
              axisValues[path] = value;
              overrides.push({ path, text: overrideText(path, value), origin: { kind: 'sweep', at: ['random', 'params', path] } });
            }
          }
          if (seed) {
            axisValues[SEED_AXIS] = seed.value;
            overrides.push({ path: SEED_AXIS, text: seed.text, origin: seed.origin });
          }
          overrides.push(...fixed);
          const varied = axes.filter((a) => axisOf(a, grid, variantRows, drawRows, seedRows) > 1);
          const name = varied.map((a) => `${names.get(a.path)}=${valueLabel(axisValues[a.path])}`).join(',') || 'base';
          trials.push({ index: trials.length, name, axes: axisValues, overrides });
        }
      }
    }
  }
  return { axes, trials };
}

function axisOf(a: AxisInfo, grid: AxisValues[], variants: unknown[], draws: unknown[], seeds: unknown[]): number {
  if (a.path === VARIANT_AXIS && (a.source === 'variants' || a.source === 'cli') && !grid.some((g) => g.path === a.path)) return variants.length;
  if (a.replicate) return seeds.length;
  if (a.source === 'random') return draws.length;
  return grid.find((g) => g.path === a.path)?.values.length ?? 1;
}

function cartesian<T>(lists: T[][]): T[][] {
  return lists.reduce<T[][]>((rows, list) => rows.flatMap((row) => list.map((x) => [...row, x])), [[]]);
}

