// Two faster training paths for tfjs-layers layers on the wasm backend, installed on the layer
// classes' prototypes so that every model (built here, or loaded from a saved model.json) gets them
// and saved models stay plain Keras layers:
// - BatchNormalization in training runs as one kernel with a closed-form gradient
//   (kernels/batch-norm-train.ts) instead of ~10 differentiated tensor ops.
// - Conv2D while gradients are recorded uses the unfused conv2d (+ bias add). tfjs-core's fused
//   conv2d has a custom gradient that computes the gradient with respect to its input eagerly
//   (ops/fused/conv2d.js), so the first conv of every model paid a full Conv2DBackpropInput for the
//   gradient of the input image, which nothing uses (5.8% of the demo's step). The unfused op's
//   gradient is lazy and the tape prunes it when the input needs none; for inner layers the work
//   is the same. Inference (no gradient) keeps the fused op.
// Other backends, dtypes and layouts keep tfjs-layers' own code.
import * as tf from '@tensorflow/tfjs';
import { batchNormTrain } from './kernels/batch-norm-train.js';

interface BatchNormLayer {
  axis: number;
  epsilon: number;
  momentum: number;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

interface ConvLayer {
  rank: number;
  dataFormat: string;
  padding: string;
  strides: number[];
  dilationRate: number[];
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  activation: { getClassName(): string };
}

type Call = (this: unknown, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
type Proto = { call: Call };

const one = (inputs: tf.Tensor | tf.Tensor[]) => (Array.isArray(inputs) ? inputs[0]! : inputs);
const onWasm = () => tf.getBackend() === 'wasm';
const recordingGradients = () => (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;

function movingAverage(v: tf.LayerVariable, value: tf.Tensor, momentum: number): void {
  // The same arithmetic as tfjs-layers (v − (v − value)·(1 − momentum)), so moving statistics agree.
  tf.tidy(() => {
    const orig = v.read();
    v.write(tf.sub(orig, tf.mul(tf.sub(orig, value), 1 - momentum)));
  });
}

function patchBatchNorm(proto: Proto): void {
  const original = proto.call;
  proto.call = function (this: unknown, inputs, kwargs) {
    const layer = this as BatchNormLayer;
    const x = one(inputs);
    const lastAxis = layer.axis === -1 || layer.axis === x.rank - 1;
    if (!kwargs?.training || !onWasm() || x.dtype !== 'float32' || !lastAxis || !layer.gamma || !layer.beta) {
      return original.call(this, inputs, kwargs);
    }
    return tf.tidy(() => {
      const [y, mean, variance] = batchNormTrain(x, layer.gamma!.read(), layer.beta!.read(), layer.epsilon);
      movingAverage(layer.movingMean, mean, layer.momentum);
      movingAverage(layer.movingVariance, variance, layer.momentum);
      return y;
    });
  };
}

function patchConv2d(proto: Proto): void {
  const original = proto.call;
  proto.call = function (this: unknown, inputs, kwargs) {
    const layer = this as ConvLayer;
    const x = one(inputs);
    const plain = layer.rank === 2 && x.rank === 4 && layer.dataFormat === 'channelsLast' && layer.activation.getClassName() === 'linear';
    if (!plain || !onWasm() || !recordingGradients() || (layer.padding !== 'same' && layer.padding !== 'valid')) {
      return original.call(this, inputs, kwargs);
    }
    return tf.tidy(() => {
      const y = tf.conv2d(
        x as tf.Tensor4D,
        layer.kernel.read() as tf.Tensor4D,
        layer.strides as [number, number],
        layer.padding as 'same' | 'valid',
        'NHWC',
        layer.dilationRate as [number, number],
      );
      return layer.bias ? tf.add(y, layer.bias.read()) : y;
    });
  };
}

let installed = false;

/** Idempotent. Patches the classes behind tf.layers.batchNormalization and tf.layers.conv2d. */
export function installTrainingLayers(): void {
  if (installed) return;
  installed = true;
  patchBatchNorm(Object.getPrototypeOf(tf.layers.batchNormalization({})) as Proto);
  patchConv2d(Object.getPrototypeOf(tf.layers.conv2d({ filters: 1, kernelSize: 1 })) as Proto);
}
