// One-line summaries of a resolved spec, for `validate` and run headers.
import type { ExperimentSpec } from '../spec/schema.js';

export function summarize(spec: ExperimentSpec): string {
  const d = spec.dataset;
  const p = spec.preprocess;
  const sizes = Array.isArray(p.size) ? p.size.join('/') : String(p.size);
  const data = `${d.source}${d.source === 'shapes' ? `(${d.count})` : d.path ? `(${d.path})` : ''}`;
  const model =
    spec.task === 'gan'
      ? `${spec.gan.kind} latent=${spec.gan.latent}`
      : spec.task === 'super-resolution'
        ? `superres ×${p.downscale} blocks=${spec.model.superres.blocks}`
        : `${spec.model.base.path ?? `${spec.model.base.arch}${spec.model.base.width}`}${spec.model.cut !== undefined ? ` cut=${spec.model.cut}` : ''}`;
  // A GAN's losses come from gan.kind, not from loss.terms.
  const loss =
    spec.task === 'gan'
      ? spec.gan.kind === 'wgan'
        ? 'wasserstein'
        : 'adversarial-bce'
      : spec.loss.terms.map((t) => (t.weight === 1 ? t.kind : `${t.weight}·${t.kind}`)).join('+');
  const t = spec.train;
  const length = t.steps !== undefined ? `${t.steps} steps` : `${t.epochs} epochs`;
  return `${spec.name}: task=${spec.task} data=${data} crop=${p.crop}@${sizes} model=${model} loss=${loss} train=${length} bs=${t.batchSize} ${t.optimizer} lr=${t.lr} seed=${spec.seed}`;
}
