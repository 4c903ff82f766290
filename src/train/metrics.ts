// Classification scores and counts. With embedding targets the model predicts vectors and a
// class's score is the cosine similarity to its target vector, so accuracy and top-k mean the
// same thing in both modes.
import * as tf from '@tensorflow/tfjs';

/** Scores [B, K]: the logits themselves, or cosine similarities to the class target vectors [K, D]. */
export function classScores(pred: tf.Tensor, classTargets?: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    if (!classTargets) return pred as tf.Tensor2D;
    const unit = (t: tf.Tensor) => t.div(t.square().sum(-1, true).sqrt().maximum(1e-8));
    return tf.matMul(unit(pred), unit(classTargets), false, true);
  });
}

/** [correct top-1, correct top-k] counts for a batch as a [2] tensor. */
export function hitCounts(scores: tf.Tensor2D, labels: tf.Tensor, k: number): tf.Tensor1D {
  return tf.tidy(() => {
    const kk = Math.min(k, scores.shape[1]);
    const { indices } = tf.topk(scores, kk);
    const hit = indices.equal(labels.toInt().expandDims(1)).toFloat();
    const top1 = hit.slice([0, 0], [-1, 1]).sum();
    return tf.stack([top1, hit.sum()]) as tf.Tensor1D;
  });
}
