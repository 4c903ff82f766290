// Named recipes a spec can start from (`gan.preset`). A preset is a set of field values merged
// *under* what the spec files and overrides say, before validation, so every field the user sets
// explicitly wins and the resolved spec (what runs, is hashed and keys the stages) holds the
// expanded values: a stage key never needs to know presets exist.
import type { GAN_PRESETS } from './sections.js';

type Obj = Record<string, unknown>;

/** The WGAN paper's Algorithm 1 and the authors' code (PyTorch RMSprop: alpha 0.99, eps 1e-8, no momentum). */
const WGAN_2017: Obj = {
  gan: {
    kind: 'wgan',
    critic: { steps: 5, warmup: { steps: 100, generatorSteps: 25 }, periodic: { steps: 100, every: 500 }, clip: 0.01 },
  },
  train: { optimizer: 'rmsprop', lr: 5e-5, momentum: 0, decay: 0.99, epsilon: 1e-8, batchSize: 64 },
};

export const PRESETS: Record<(typeof GAN_PRESETS)[number], Obj> = { 'wgan-2017': WGAN_2017 };

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The values of the preset the input names, or undefined (none, or an unknown name, which validation reports). */
export function presetOf(input: Obj): Obj | undefined {
  const name = isObj(input.gan) ? input.gan.preset : undefined;
  return typeof name === 'string' && Object.hasOwn(PRESETS, name) ? structuredClone(PRESETS[name as keyof typeof PRESETS]) : undefined;
}
