// Adversarial losses. Inputs are the discriminator's linear outputs (logits for gan/dcgan, critic
// scores for wgan), shape [n, 1].
import * as tf from '@tensorflow/tfjs';

/** Cross-entropy of one discriminator batch: the first `nReal` rows are real (label 1), the rest fake (0). */
export function discriminatorCrossEntropy(logits: tf.Tensor, nReal: number): tf.Scalar {
  const n = logits.shape[0]!;
  const labels = tf.concat([tf.ones([nReal, 1]), tf.zeros([n - nReal, 1])]);
  return tf.losses.sigmoidCrossEntropy(labels, logits) as tf.Scalar;
}

/** Non-saturating generator loss −log D(G(z)): strong gradients while D still rejects the fakes. */
export function generatorCrossEntropy(fakeLogits: tf.Tensor): tf.Scalar {
  return tf.losses.sigmoidCrossEntropy(tf.onesLike(fakeLogits), fakeLogits) as tf.Scalar;
}

/** The critic's Wasserstein estimate E[D(real)] − E[D(fake)]; no log anywhere. */
export function wassersteinEstimate(realScores: tf.Tensor, fakeScores: tf.Tensor): tf.Scalar {
  return tf.sub(tf.mean(realScores), tf.mean(fakeScores));
}

/** Critic loss: minimising E[D(fake)] − E[D(real)] maximises the estimate. */
export function criticLoss(realScores: tf.Tensor, fakeScores: tf.Tensor): tf.Scalar {
  return tf.neg(wassersteinEstimate(realScores, fakeScores));
}

/** WGAN generator loss −E[D(G(z))]. */
export function generatorWassersteinLoss(fakeScores: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(fakeScores)) as tf.Scalar;
}

/** Clips every critic weight to ±c in place: the WGAN's crude Lipschitz constraint. */
export function clipWeights(model: tf.LayersModel, c: number): void {
  tf.tidy(() => {
    for (const w of model.trainableWeights) w.write(tf.clipByValue(w.read(), -c, c));
  });
}
