// `ablate export`: a trained run as a folder a web or Node app can serve: the TF.js LayersModel
// (model.json + weights.bin, loadable with tf.loadLayersModel) and preprocess.json, which says how
// to turn an image into the network's input exactly as training did. docs/predict.md documents
// every field; the numbers come from the run's recorded spec, never from defaults.
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Normalize } from '../data/loader.js';
import { runJob } from './predict.js';
import type { TrainedRun } from './trained-run.js';

export const PREPROCESS_FORMAT = 'ablate.preprocess/1';

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], grey: { mean: 0.449, std: 0.226 } };

/** Per channel, input = (pixel / 255 − mean) / std; `none` keeps 0–255. Matches normalizeTable in data/loader.ts. */
export function normalization(kind: Normalize, channels: 1 | 3): { kind: Normalize; formula: string; mean: number[]; std: number[]; scale: number } {
  const rep = (v: number) => Array.from({ length: channels }, () => v);
  switch (kind) {
    case 'unit':
      return { kind, formula: 'pixel / 255', mean: rep(0), std: rep(1), scale: 255 };
    case 'symmetric':
      return { kind, formula: 'pixel / 127.5 - 1', mean: rep(0.5), std: rep(0.5), scale: 255 };
    case 'imagenet':
      return channels === 3
        ? { kind, formula: '(pixel / 255 - mean[c]) / std[c]', mean: IMAGENET.mean, std: IMAGENET.std, scale: 255 }
        : { kind, formula: '(pixel / 255 - mean) / std', mean: [IMAGENET.grey.mean], std: [IMAGENET.grey.std], scale: 255 };
    default:
      return { kind, formula: 'pixel (0-255, no scaling)', mean: rep(0), std: rep(1), scale: 1 };
  }
}

export interface PreprocessJson {
  format: string;
  run: { id: string; name: string; chosen: string; metrics: Record<string, number> };
  input: { width: number; height: number; channels: 1 | 3; layout: 'NHWC'; dtype: 'float32'; batch: 'any' };
  resize: {
    crop: string;
    description: string;
    centerFraction: number | null;
    /** Border bars, and what transparent pixels are flattened onto (every crop). */
    fill: [number, number, number];
    kernel: string;
    exifOrientation: 'applied';
    colour: string;
    maxPixels: number;
    /** Several preprocess sizes: the input is resampled (same kernel) from the resize planned for this larger size. */
    resampledFrom: number | null;
  };
  normalize: ReturnType<typeof normalization>;
  output: { kind: 'logits' | 'cosine-to-class-targets'; classes: string[]; note: string };
  model: { file: string; customLayers: string[]; note: string };
}

const CROP_TEXT: Record<string, string> = {
  squish: 'resize width and height to the input size independently (aspect ratio not kept)',
  center:
    'resize so the shorter side is T = max(size, round(size / centerFraction)) keeping the aspect ratio, then take the size×size window at left = floor((w - size) / 2), top = floor((h - size) / 2)',
  border: 'resize so the longer side is size keeping the aspect ratio, then paste it on a size×size canvas of the fill colour at left = floor((size - w) / 2), top = floor((size - h) / 2)',
};

export function preprocessJson(run: TrainedRun, customLayers: string[]): PreprocessJson {
  const job = runJob(run.spec);
  const S = job.sizes[0]!;
  const metrics = Object.fromEntries(Object.entries(run.metrics).filter(([k]) => /^(val|eval)_/.test(k)));
  return {
    format: PREPROCESS_FORMAT,
    run: { id: run.runId, name: run.runName, chosen: run.chosen, metrics },
    input: { width: S, height: S, channels: job.channels, layout: 'NHWC', dtype: 'float32', batch: 'any' },
    resize: {
      crop: job.crop,
      description: CROP_TEXT[job.crop]!,
      centerFraction: job.crop === 'center' ? job.centerFraction : null,
      fill: job.fill,
      kernel: job.kernel,
      exifOrientation: 'applied',
      colour: `${job.channels === 1 ? 'greyscale (sharp greyscale())' : 'RGB as libvips decodes it'}; transparent pixels (PNG, WebP, …) flattened onto the fill colour ${JSON.stringify(job.fill)}`,
      maxPixels: job.maxPixels,
      resampledFrom: job.sizes.length > 1 && Math.max(...job.sizes) !== S ? Math.max(...job.sizes) : null,
    },
    normalize: normalization(run.spec.preprocess.normalize as Normalize, job.channels),
    output: run.spec.dataset.targets
      ? { kind: 'cosine-to-class-targets', classes: run.classes, note: 'the network outputs a vector; the class is the target vector with the highest cosine similarity (dataset.targets of the run)' }
      : { kind: 'logits', classes: run.classes, note: 'one logit per class in this order; softmax gives probabilities' },
    model: {
      file: 'model.json',
      customLayers,
      note: customLayers.length
        ? `register these layer classes before tf.loadLayersModel (ablate's src/models/layers.ts: at inference they pass their input through unchanged)`
        : 'standard TF.js layers only: tf.loadLayersModel("…/model.json") loads it',
    },
  };
}

/** Layer class names in model.json that stock TF.js does not define. */
async function customLayerNames(modelJson: string): Promise<string[]> {
  const tf = await import('@tensorflow/tfjs');
  const names = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.class_name === 'string' && o.config && typeof o.config === 'object') names.add(o.class_name);
      for (const x of Object.values(o)) visit(x);
    }
  };
  visit(JSON.parse(modelJson).modelTopology);
  const stock = new Set(Object.keys(tf.serialization.SerializationMap.getMap().classNameMap));
  // ablate's own layers are registered in this process too: name those that tfjs itself lacks.
  const ours = ['SeededDropout'];
  return [...names].filter((n) => ours.includes(n) || !stock.has(n)).sort();
}

export async function exportRun(run: TrainedRun, dir: string): Promise<{ files: string[]; preprocess: PreprocessJson }> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const f of await readdir(run.modelDir)) {
    await copyFile(join(run.modelDir, f), join(dir, f));
    files.push(join(dir, f));
  }
  const json = preprocessJson(run, await customLayerNames(await readFile(join(run.modelDir, 'model.json'), 'utf8')));
  await writeFile(join(dir, 'preprocess.json'), `${JSON.stringify(json, null, 1)}\n`);
  files.push(join(dir, 'preprocess.json'));
  return { files, preprocess: json };
}
