// When a GAN run has a sample-quality score, from the spec alone. Kept free of TensorFlow so the
// spec's own checks (`ablate validate`) can ask it without loading a backend.
import type { DigitRange } from './mnist.js';

/** The parts of a spec the answer depends on (structural, so the schema can call it on its own output). */
export interface QualitySpecView {
  preprocess: { size: number | readonly number[]; channels: number; normalize: string };
  evaluate: { quality: boolean };
}

/** The scorer's pixel range: it is trained on digits in the range the generator produces. */
export function scorerRange(spec: Pick<QualitySpecView, 'preprocess'>): DigitRange | undefined {
  const n = spec.preprocess.normalize;
  return n === 'symmetric' || n === 'unit' ? n : undefined;
}

/** The score is defined on 28×28×1 digits in [0, 1] or [-1, 1]; other specs skip it. */
export function qualityApplies(spec: QualitySpecView): boolean {
  const size = Array.isArray(spec.preprocess.size) ? spec.preprocess.size[0] : spec.preprocess.size;
  return spec.evaluate.quality && size === 28 && spec.preprocess.channels === 1 && scorerRange(spec) !== undefined;
}
