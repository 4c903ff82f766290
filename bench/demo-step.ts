// The demo's training step on wasm, where a demo sweep spends its time (its trial records: training
// is 61–72 s of 63–102 s per trial). The model comes from configs/crop-ablation.yaml (or the spec
// given), so the figure follows the spec; a random batch of its size stands in for the data, since
// the step's cost does not depend on the pixels. Printed side by side in one process: the spec's
// model as ablate trains it, and the same model with `norm: none`, which tells what batch norm
// costs. Process CPU per step is the figure to compare across machines (wall time includes
// whatever else the machine runs); medians of --steps timed steps after 3 warm-up steps.
//   npm run bench:demo-step [-- spec.yaml] [--steps N]
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { archFields, buildArch } from '../src/models/index.js';
import { loadSpec } from '../src/spec/load.js';

const args = process.argv.slice(2);
const stepsAt = args.indexOf('--steps');
const steps = stepsAt >= 0 ? Number(args[stepsAt + 1]) : 10;
const file = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--steps') ?? 'configs/crop-ablation.yaml';
const { spec } = loadSpec(file);
if (spec.model.base.arch == null) throw new Error(`${file}: bench:demo-step needs a built-in model.base.arch`);
const size = spec.preprocess.size;
const [h, w] = Array.isArray(size) ? [size[0]!, size[1] ?? size[0]!] : [size, size];
const batch = spec.train.batchSize;
const classes = 8; // the shapes dataset's; the last layer's width barely moves the step

const median = (a: number[]) => a.slice().sort((p, q) => p - q)[a.length >> 1]!;

function timeStep(norm: 'none' | 'batch' | undefined) {
  const model = buildArch(spec.model.base.arch, {
    ...archFields(spec.model.base),
    norm,
    inputShape: [h, w, 3],
    outputs: classes,
    seed: 0,
  });
  const opt = tf.train.adam(0.001);
  const x = tf.randomUniform([batch, h, w, 3]);
  const y = tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32') as tf.Tensor1D, classes);
  const step = () => {
    const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor), true)!;
    loss.dataSync();
    loss.dispose();
  };
  for (let i = 0; i < 3; i++) step();
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < steps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    step();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  tf.dispose([x, y]);
  model.dispose();
  opt.dispose();
  return { cpu: median(cpu), wall: median(wall) };
}

const backend = await initBackend('wasm');
const load = loadavg()[0]!;
const asTrained = timeStep(spec.model.base.norm);
const noNorm = timeStep('none');
console.log(`${file}: ${spec.model.base.arch}, batch ${batch} at ${h}×${w}, backend ${backend.name}, ${steps} steps, load ${load.toFixed(2)}`);
console.log(`  as specified (norm: ${spec.model.base.norm ?? 'none'}): ${asTrained.cpu.toFixed(1)} ms CPU, ${asTrained.wall.toFixed(1)} ms wall per step`);
console.log(`  norm: none:                 ${noNorm.cpu.toFixed(1)} ms CPU, ${noNorm.wall.toFixed(1)} ms wall per step`);
console.log(
  JSON.stringify({
    spec: file,
    load_1m: +load.toFixed(2),
    step_cpu_ms: +asTrained.cpu.toFixed(1),
    step_wall_ms: +asTrained.wall.toFixed(1),
    step_cpu_ms_norm_none: +noNorm.cpu.toFixed(1),
    step_wall_ms_norm_none: +noNorm.wall.toFixed(1),
  }),
);
