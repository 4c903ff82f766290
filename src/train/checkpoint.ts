// Checkpoints: the weights of one or more models, the state of their optimizers (moments,
// iteration count) and a small JSON state, written atomically so an interrupted save never leaves
// a half checkpoint that a rerun would trust. The GAN train stage saves {generator, discriminator}
// with their two optimizers through the same functions.
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadModel, saveModel } from '../models/io.js';

export interface CheckpointState {
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken. */
  step: number;
  /** Metric history so far (key → one value per completed epoch), re-logged on resume. */
  history: Record<string, [step: number, value: number][]>;
  /** Anything else the loop needs to continue (e.g. the GAN's noise-stream and real-image positions). */
  extra?: unknown;
}

export interface Checkpointable {
  models: Record<string, tf.LayersModel>;
  optimizers: Record<string, tf.Optimizer>;
}

interface TensorEntry {
  name: string;
  shape: number[];
  dtype: tf.DataType;
  offset: number;
  length: number;
}

async function saveOptimizer(opt: tf.Optimizer, dir: string): Promise<void> {
  const weights = await opt.getWeights();
  const entries: TensorEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const w of weights) {
    const data = (await w.tensor.data()) as Float32Array | Int32Array;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    entries.push({ name: w.name, shape: w.tensor.shape, dtype: w.tensor.dtype, offset, length: data.length });
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  await writeFile(join(dir, 'tensors.bin'), Buffer.concat(parts));
  await writeFile(join(dir, 'tensors.json'), JSON.stringify(entries));
  // getWeights() returns fresh tensors for the iteration count; the moments are the optimizer's own.
  for (const w of weights) if (w.name === 'iter') w.tensor.dispose();
}

async function loadOptimizer(opt: tf.Optimizer, dir: string): Promise<void> {
  const entries = JSON.parse(await readFile(join(dir, 'tensors.json'), 'utf8')) as TensorEntry[];
  const buf = await readFile(join(dir, 'tensors.bin'));
  const named = entries.map((e) => {
    const bytes = buf.buffer.slice(buf.byteOffset + e.offset, buf.byteOffset + e.offset + e.length * 4);
    const data = e.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
    return { name: e.name, tensor: tf.tensor(data, e.shape, e.dtype) };
  });
  await opt.setWeights(named);
  // setWeights copies the values into new variables.
  for (const n of named) n.tensor.dispose();
}

/** Saves to `dir` (replacing a previous checkpoint there only once the new one is complete). */
export async function saveCheckpoint(dir: string, what: Checkpointable, state: CheckpointState): Promise<void> {
  const tmp = `${dir}.partial`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  for (const [name, m] of Object.entries(what.models)) await saveModel(m, join(tmp, 'models', name));
  for (const [name, o] of Object.entries(what.optimizers)) {
    await mkdir(join(tmp, 'optimizers', name), { recursive: true });
    await saveOptimizer(o, join(tmp, 'optimizers', name));
  }
  await writeFile(join(tmp, 'state.json'), JSON.stringify(state));
  // The previous checkpoint steps aside rather than being deleted first, so a kill between the two
  // renames still leaves a complete one (`<dir>.old`, which loadCheckpoint falls back to).
  const old = `${dir}.old`;
  if (await complete(dir)) {
    await rm(old, { recursive: true, force: true });
    await rename(dir, old);
  }
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}

/**
 * Restores weights and optimizer state saved by saveCheckpoint into the given (identically built)
 * models and optimizers. Returns null when `dir` holds no complete checkpoint.
 */
export async function loadCheckpoint(dir: string, into: Checkpointable): Promise<CheckpointState | null> {
  const found = (await complete(dir)) ? dir : (await complete(`${dir}.old`)) ? `${dir}.old` : null;
  return found ? restore(found, into) : null;
}

/** Whether `dir` (or the `<dir>.old` a kill mid-save leaves) holds a complete checkpoint. */
export async function hasCheckpoint(dir: string): Promise<boolean> {
  return (await complete(dir)) || (await complete(`${dir}.old`));
}

async function complete(dir: string): Promise<boolean> {
  try {
    await access(join(dir, 'state.json'));
    return true;
  } catch {
    return false;
  }
}

async function restore(dir: string, into: Checkpointable): Promise<CheckpointState> {
  for (const [name, m] of Object.entries(into.models)) {
    const saved = await loadModel(join(dir, 'models', name));
    const weights = saved.getWeights();
    if (weights.length !== m.getWeights().length) throw new Error(`checkpoint ${dir}: model "${name}" has a different architecture`);
    m.setWeights(weights);
    saved.dispose();
  }
  for (const [name, o] of Object.entries(into.optimizers)) await loadOptimizer(o, join(dir, 'optimizers', name));
  return JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as CheckpointState;
}

export interface ResumableRun {
  state: CheckpointState;
  /** Folder of the checkpoint (undefined: no checkpointing). */
  dir: string | undefined;
  /** The epoch the run resumed after (0 for a fresh run). */
  resumedFrom: number;
  /** Log a per-epoch metric and keep it in the checkpointed history. */
  record(key: string, value: number, step: number): void;
}

/**
 * The start of every training loop that checkpoints: restore the last checkpoint in
 * `<workDir>/checkpoint` if there is one, replay its metric history to the tracker (the
 * interrupted run's epochs belong to this run's record too), and return the state to continue from.
 */
export async function resumeOrStart(
  workDir: string | undefined,
  what: Checkpointable,
  emit: (key: string, value: number, step: number) => void,
  log?: { info(message: string): void },
  /** The line a resumed run logs (the GAN counts generator steps, not epochs). */
  resumeLine: (s: CheckpointState) => string = (s) => `resuming from the checkpoint after epoch ${s.epoch} (step ${s.step})`,
): Promise<ResumableRun> {
  const dir = workDir ? join(workDir, 'checkpoint') : undefined;
  let state: CheckpointState = { epoch: 0, step: 0, history: {} };
  const restored = dir ? await loadCheckpoint(dir, what) : null;
  if (restored) {
    state = restored;
    log?.info(resumeLine(state));
    for (const [key, points] of Object.entries(state.history)) for (const [step, v] of points) emit(key, v, step);
  }
  return {
    state,
    dir,
    resumedFrom: state.epoch,
    record(key, value, step) {
      const points = state.history[key] ?? [];
      points.push([step, value]);
      state.history[key] = points;
      emit(key, value, step);
    },
  };
}
