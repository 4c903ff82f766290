// Saving and loading LayersModels as model.json + weights.bin without tfjs-node's file:// handler,
// which pure-JS tfjs lacks. The format is the standard TF.js one, so converted Keras models
// (several weight shards) load too.
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import './layers.js';

function joinBuffers(data: tf.io.WeightData): ArrayBuffer {
  return Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : data;
}

/** Writes `dir/model.json` and `dir/weights.bin` (into a temporary folder renamed at the end). */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const weights = joinBuffers(a.weightData!);
      await writeFile(join(tmp, 'weights.bin'), new Uint8Array(weights));
      const json = {
        format: 'layers-model',
        generatedBy: a.generatedBy,
        convertedBy: a.convertedBy ?? null,
        modelTopology: a.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
      };
      await writeFile(join(tmp, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    }),
  );
  await rm(dir, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  await rename(tmp, dir);
}

/** Loads a LayersModel from a folder holding model.json, or from the model.json path itself. */
export async function loadModel(path: string): Promise<tf.LayersModel> {
  const file = (await stat(path)).isDirectory() ? join(path, 'model.json') : path;
  const json = JSON.parse(await readFile(file, 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  if (!json.modelTopology) throw new Error(`${file} is not a TF.js LayersModel (no modelTopology; graph models cannot be cut)`);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest ?? []) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const b = await readFile(join(dirname(file), p));
      buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    }
  }
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: tf.io.CompositeArrayBuffer.join(buffers) }));
}
