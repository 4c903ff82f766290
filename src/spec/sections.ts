// One zod schema per spec section. Defaults and descriptions live here and nowhere else: the
// TypeScript types, the JSON Schema for editors and docs/spec-reference.md are all derived from it.
import { z } from 'zod';

const int = (d: string) => z.number().int().describe(d);
const posInt = (d: string) => z.number().int().positive().describe(d);

export const CROPS = ['border', 'center', 'squish'] as const;
export const BACKENDS = ['auto', 'node-gpu', 'webgpu', 'node', 'wasm', 'cpu'] as const;

export const datasetSchema = z
  .strictObject({
    source: z
      .enum(['folder', 'shapes', 'mnist'])
      .default('shapes')
      .describe(
        'Where images come from: `folder` (root/<class>/<files>, or root/train and root/val), `shapes` (generated, seeded synthetic set built to separate the crop strategies), `mnist` (the 10,000 digits the mnist package ships, 28×28×1).',
      ),
    path: z
      .string()
      .optional()
      .describe('Folder of the dataset. Required for `folder`; for `shapes` where the generated files go (default: inside the cache).'),
    count: posInt('Number of images to generate for `shapes` (all classes together).').default(600),
    seed: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Seed of the data itself (generated images, train/val split); separate from the top-level `seed` so replicates share one dataset and its cached preprocessing.'),
    classes: z.array(z.string()).optional().describe('Use only these classes (names as in the folder or the generator).'),
    valFraction: z.number().gt(0).lt(1).default(0.2).describe('Fraction held out for validation when the dataset has no train/val folders.'),
    limit: z
      .strictObject({
        train: posInt('At most this many training images.').optional(),
        val: posInt('At most this many validation images.').optional(),
      })
      .optional()
      .describe('Per-split caps, applied after the seeded split.'),
    maxPixels: posInt('Images with more pixels than this are skipped as bad files.').default(50_000_000),
    maxBadFraction: z
      .number()
      .min(0)
      .max(1)
      .default(0.05)
      .describe('Preprocessing fails when more than this fraction of files cannot be used (bad files are always skipped and listed in the manifest and run log).'),
    verify: z
      .enum(['stat', 'content'])
      .default('stat')
      .describe(
        'How a `folder` dataset is recognised as unchanged (its cache key): `stat` by every file\'s path, size and modification time; `content` also hashes every file\'s bytes (slower on big folders; for files rewritten with their old size and time, e.g. by some sync tools).',
      ),
    targets: z
      .union([
        z.strictObject({ kind: z.literal('file'), path: z.string().describe('JSON file mapping class name → vector.') }),
        z.strictObject({ kind: z.literal('attributes').describe('Generated attribute embedding (shapes only).') }),
      ])
      .optional()
      .describe('Per-class target vectors for embedding training with a cosine loss.'),
  })
  .superRefine((d, ctx) => {
    if (d.source === 'folder' && !d.path) ctx.addIssue({ code: 'custom', path: ['path'], message: 'is required when dataset.source is folder' });
  })
  .describe('The data: where it comes from and how it is split.');

export const preprocessSchema = z
  .strictObject({
    size: z
      .union([posInt('Side in pixels.'), z.array(posInt('Side in pixels.')).min(1)])
      .default(64)
      .describe('Output side length (images are size×size). A list makes several sizes from one decode; the first is used for training.'),
    crop: z
      .enum(CROPS)
      .default('center')
      .describe(
        'How a non-square image becomes square: `border` fits the longer side and pads with `fill` (letterbox; loses resolution), `center` fits the shorter side and cuts the centre (loses the edges), `squish` resizes both sides (loses the aspect ratio).',
      ),
    fill: z
      .union([z.string().regex(/^#[0-9a-fA-F]{6}$/, 'expected a colour "#rrggbb" (e.g. "#000000") or [r, g, b]'), z.tuple([z.number().int().min(0).max(255), z.number().int().min(0).max(255), z.number().int().min(0).max(255)])])
      .default('#000000')
      .describe('Padding colour for `border`, as "#rrggbb" or [r, g, b].'),
    centerFraction: z
      .number()
      .gt(0)
      .max(1)
      .default(1)
      .describe('For `center`: resize to size/centerFraction, then crop size×size (0.875 is the classic ImageNet eval crop).'),
    kernel: z
      .enum(['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'])
      .default('linear')
      .describe(
        'Resampling kernel, fixed and recorded (interpolation alone moves accuracy by about 1%). The default `linear` is antialiased bilinear, the default of torchvision, Keras and fastai; `lanczos3` is sharper and costs about 10% more preprocessing time.',
      ),
    channels: z.union([z.literal(1), z.literal(3)]).default(3).describe('1 for grayscale, 3 for RGB.'),
    flip: z.boolean().default(false).describe('Also store a horizontally flipped copy of every training image.'),
    downscale: z
      .union([z.literal(2), z.literal(4)])
      .optional()
      .describe('For super-resolution: also store inputs downscaled by this factor (targets are the size×size images).'),
    normalize: z
      .enum(['unit', 'symmetric', 'imagenet'])
      .default('unit')
      .describe('uint8 → float: `unit` is [0, 1], `symmetric` is [-1, 1] (GANs with tanh), `imagenet` subtracts the ImageNet mean and divides by its std.'),
    chunk: posInt('Images per Zarr chunk on disk (the loader shuffles chunks, then within a buffer).').default(32),
    workers: posInt('Preprocessing worker threads (default: number of cores).').optional(),
  })
  .describe('Turning source images into fixed-size arrays: the crop ablation lives here.');

const layerRef = z.union([z.string(), z.number().int()]);

export const modelSchema = z
  .strictObject({
    base: z
      .strictObject({
        arch: z.enum(['convnet', 'resnet']).default('resnet').describe('Built-in architecture (layer names are stable, e.g. `stage3_block2_out`).'),
        width: posInt('Filters in the first stage; later stages double it.').default(16),
        // Optional with no default, so specs that do not set them keep their cache keys.
        stages: z
          .number()
          .int()
          .min(1)
          .max(5)
          .optional()
          .describe('`convnet`: conv stages, each halving the resolution (default 3). The receptive field doubles with each: 3 stages see 22 px, 4 see 46 px, 5 see 94 px.'),
        norm: z.enum(['none', 'batch']).optional().describe('`convnet`: `batch` normalisation after every conv (default `none`).'),
        globalPool: z
          .enum(['avg', 'max'])
          .optional()
          .describe('`convnet`: global pooling before the classifier (default `avg`); `max` keeps a small local cue (a mark near an edge) from being averaged away.'),
        stemStride: z
          .union([z.literal(1), z.literal(2)])
          .optional()
          .describe('`convnet`: stride of the first convolution (default 1). 2 runs every later layer at half the resolution, about a quarter of the cost; the first 3×3 filters still see full-resolution texture.'),
        hidden: posInt(
          '`convnet`: a hidden dense layer (relu) of this many units between the global pooling and the classifier (default none). A linear classifier on pooled features cannot compare two of them, e.g. horizontal against vertical edge length, which is what an aspect ratio is.',
        ).optional(),
        path: z.string().optional().describe('A TF.js LayersModel on disk (folder or model.json) to use instead of a built-in architecture.'),
        pretrain: z
          .strictObject({
            source: z.enum(['shapes', 'mnist']).default('shapes').describe('Source task the base is trained on before the cut.'),
            classes: z.array(z.string()).optional().describe('Subset of source classes to pretrain on.'),
            epochs: posInt('Pretraining epochs.').default(3),
            lr: z.number().positive().default(1e-3).describe('Pretraining learning rate (Adam).'),
          })
          .optional()
          .describe('Train the built-in base on a source task first (a cached stage), so transfer works without downloaded weights.'),
      })
      .prefault({})
      .describe('The network whose features are used (the whole classifier when there is no cut).'),
    cut: layerRef
      .optional()
      .describe('Transfer cut point: a layer name, an index (negative counts from the end), `before-last-downsample` or `before-head`. Unset: train the whole network.'),
    pool: posInt('Average-pool the cut activations by this factor (spatial size / pool) to shrink them.').optional(),
    head: z
      .strictObject({
        kind: z.enum(['linear', 'mlp']).default('linear').describe('Head on top of the cut: `linear` or a one-hidden-layer `mlp`.'),
        units: posInt('Hidden units of the mlp head.').default(128),
        activation: z.enum(['relu', 'elu', 'gelu', 'tanh', 'sigmoid']).default('relu').describe('Activation of the mlp hidden layer.'),
        dropout: z.number().min(0).lt(1).default(0).describe('Dropout before the output layer.'),
      })
      .prefault({})
      .describe('The trainable head.'),
    trainable: z
      .union([z.enum(['head', 'all']), z.strictObject({ from: z.string().describe('First trainable layer name.') })])
      .default('head')
      .describe('`head` trains on cached activations; `all` or `{from: layer}` fine-tunes the stacked model end to end.'),
    superres: z
      .strictObject({
        blocks: posInt('Residual blocks.').default(4),
        filters: posInt('Filters per convolution.').default(32),
      })
      .prefault({})
      .describe('The fully convolutional super-resolution network (task: super-resolution).'),
  })
  .describe('The network: base, cut point, head and what trains.');

const weight = z.number().min(0).default(1).describe('Weight of this term in the total loss.');
const featureNet = z
  .strictObject({ path: z.string().describe('A TF.js LayersModel to use as the feature network.') })
  .optional()
  .describe('Feature network for the term; default: the (pretrained) model.base.');
const layeredTerm = {
  weight,
  network: featureNet,
  layers: z.array(layerRef).min(1).describe('Layers of the feature network whose activations are compared.'),
  weights: z.array(z.number().min(0)).optional().describe('One weight per layer (same length as `layers`); default all 1.'),
};

// The length check sits on the term itself so it is reported even when other parts of the spec
// are invalid (zod skips a parent's refinements once a child has failed).
const checkLayerWeights = (t: { layers: unknown[]; weights?: number[] | undefined }, ctx: z.RefinementCtx) => {
  if (t.weights && t.weights.length !== t.layers.length) {
    ctx.addIssue({
      code: 'custom',
      path: ['weights'],
      message: `has ${t.weights.length} weight${t.weights.length === 1 ? '' : 's'} but layers has ${t.layers.length}; give one weight per layer`,
    });
  }
};

export const lossTermSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('crossentropy').describe('Softmax cross-entropy on class labels.'), weight, smoothing: z.number().min(0).lt(1).default(0).describe('Label smoothing.') }),
  z.strictObject({ kind: z.literal('mse').describe('Mean squared error to the target.'), weight }),
  z.strictObject({ kind: z.literal('mae').describe('Mean absolute error to the target.'), weight }),
  z.strictObject({ kind: z.literal('cosine').describe('1 − cosine similarity to the class target vector.'), weight }),
  z.strictObject({ kind: z.literal('pixel').describe('Pixel loss between prediction and target image.'), weight, distance: z.enum(['mse', 'mae']).default('mse').describe('Pixel distance.') }),
  z
    .strictObject({ kind: z.literal('content').describe('Perceptual content loss over several feature-network layers.'), ...layeredTerm, distance: z.enum(['mse', 'cosine']).default('mse').describe('Distance between activations.') })
    .superRefine((t, ctx) => checkLayerWeights(t, ctx)),
  z.strictObject({ kind: z.literal('style').describe('Gram-matrix style loss over several feature-network layers.'), ...layeredTerm }).superRefine((t, ctx) => checkLayerWeights(t, ctx)),
]);

export const lossSchema = z
  .strictObject({
    terms: z.array(lossTermSchema).min(1).default([{ kind: 'crossentropy', weight: 1, smoothing: 0 }]).describe('Weighted terms; the total is their weighted sum, and each is logged on its own.'),
  })
  .describe('The loss: a weighted sum of terms.');

export const trainSchema = z
  .strictObject({
    epochs: posInt('Passes over the training set.').default(5),
    steps: posInt('Stop after this many optimizer steps (for GANs: generator steps). Overrides epochs when set.').optional(),
    batchSize: posInt('Samples per step.').default(32),
    optimizer: z.enum(['sgd', 'adam', 'rmsprop']).default('adam').describe('Optimizer.'),
    lr: z.number().positive().default(1e-3).describe('Learning rate.'),
    momentum: z.number().min(0).lt(1).default(0.9).describe('Momentum for sgd and rmsprop.'),
    beta1: z
      .number()
      .min(0)
      .lt(1)
      .optional()
      .describe('Adam β1. Unset: 0.9, or 0.5 for task gan (the DCGAN recommendation: less momentum against a moving target).'),
    // Optional with no default, so specs that do not set them keep their hashes; the defaults live
    // in src/train/optim.ts (OPTIMIZER_DEFAULTS), the one optimizer factory of every task.
    decay: z
      .number()
      .min(0)
      .lt(1)
      .optional()
      .describe('RMSprop ρ: decay of the running average of squared gradients (Keras: rho, PyTorch: alpha). Unset: 0.9, for every task (PyTorch\'s default, which the WGAN reference ran with, is 0.99: `gan.preset: wgan-2017` sets it).'),
    epsilon: z
      .number()
      .positive()
      .optional()
      .describe('Adam and RMSprop: added to the denominator for stability. Unset: 1e-7 (Keras\'s default; PyTorch\'s is 1e-8), for every task.'),
    schedule: z
      .strictObject({
        kind: z
          .enum(['constant', 'step', 'cosine', 'exponential', 'plateau'])
          .default('constant')
          .describe('Learning-rate schedule. `plateau` lowers the rate when the validation metric stops improving (with `train.stop`: trains each arm to convergence, whatever the epoch limit).'),
        every: posInt('`step`: decay every this many epochs.').default(1),
        gamma: z.number().positive().max(1).default(0.5).describe('`step`/`exponential`/`plateau`: multiply the rate by this.'),
        patience: posInt('`plateau`: epochs without an improvement of the watched metric (`train.stop.metric`, else val_loss) before the rate is multiplied by gamma.').default(2),
        warmupSteps: int('Linear warm-up steps from 0 to lr.').min(0).default(0),
      })
      .prefault({})
      .describe('How the learning rate changes over training.'),
    augment: z
      .enum(['none', 'flip', 'dihedral'])
      .default('none')
      .describe(
        'Random augmentation of training batches (no extra storage, no extra cost per step): `flip` mirrors images left-right half the time; `dihedral` applies one of the 8 rotations by 90° and mirror images. Both keep every cue of the `shapes` dataset (aspect, a mark near an edge, stripes) and of any crop; do not use them where orientation carries the class (digits, text).',
      ),
    backend: z
      .enum(BACKENDS)
      .default('auto')
      .describe('TF.js backend: `auto` picks the fastest that starts (node-gpu, webgpu on a hardware GPU adapter, node, wasm, cpu); naming one that cannot start is an error saying what to install. `webgpu` also runs on a software adapter when named (slow: for tests).'),
    workers: posInt(
      'Data-parallel training: worker threads (ranks) that split every batch, each with its own single-threaded wasm backend (the features, evaluation and GAN quality-score passes split theirs across as many); default: the cores this run may use (all of them, or its share under a sweep running several trials at once). The same spec and seed give the same numbers for the same worker count; another count gives other rounding (and, with batch norm or dropout, other per-shard statistics and masks). Ignored on the native backends, which use every core already, and on webgpu (one GPU).',
    ).optional(),
    logEvery: posInt('Log step metrics every this many steps.').default(20),
    checkpointEvery: posInt('Save a checkpoint every this many epochs (a rerun resumes from the last).').default(1),
    stop: z
      .strictObject({
        metric: z
          .string()
          .regex(/^(val|train)_[a-z0-9_]+$/, 'expected a per-epoch metric such as val_loss, val_accuracy, val_psnr or train_loss')
          .default('val_loss')
          .describe('Per-epoch metric watched: `val_loss`, `val_accuracy`, `val_loss_<term>`, `val_psnr`, `val_ssim` (super-resolution), or a `train_*` metric.'),
        mode: z.enum(['min', 'max']).default('min').describe('`min` when lower is better (losses), `max` when higher is (accuracy, PSNR).'),
        patience: posInt('Stop after this many epochs without an improvement.').default(5),
        minDelta: z.number().min(0).default(0).describe('An improvement must beat the best value by more than this.'),
        maxEpochs: posInt('Upper limit on epochs (default: `train.epochs`).').optional(),
        restoreBest: z.boolean().default(true).describe('End with the weights of the best epoch (kept in the work folder), so evaluate and the saved model use them.'),
      })
      .superRefine((st, ctx) => {
        const higher = /accuracy|top\d|psnr|ssim/.test(st.metric);
        if (higher && st.mode === 'min') ctx.addIssue({ code: 'custom', path: ['mode'], message: `is min, but higher ${st.metric} is better; set mode: max` });
        if (/loss/.test(st.metric) && st.mode === 'max') ctx.addIssue({ code: 'custom', path: ['mode'], message: `is max, but lower ${st.metric} is better; set mode: min` });
      })
      .optional()
      .describe(
        'Early stopping: train until `metric` has not improved for `patience` epochs (at most `maxEpochs`), so every arm of an ablation is compared trained to convergence. The run logs the epoch it stopped at and why; resume and Ctrl-C keep the patience count and the best weights.',
      ),
    budget: z
      .strictObject({
        seconds: z.number().positive().optional().describe('Stop once the optimizer steps have taken this many seconds (evaluation excluded).'),
        samples: posInt('Stop once this many training samples have been seen.').optional(),
      })
      .refine((b) => b.seconds !== undefined || b.samples !== undefined, { message: 'give seconds or samples' })
      .optional()
      .describe(
        'Equal-compute comparison: end training when the budget is spent (checked after every step), so arms that cost differently per sample (border pads, center reads less) can also be compared at equal time or at equal data. `samples` is deterministic; `seconds` depends on the machine and its load.',
      ),
    checkpointMinutes: z
      .number()
      .min(0)
      .default(10)
      .describe(
        'Also save a checkpoint inside an epoch (or between GAN grids) once this many minutes have passed since the last one, so a crash, an out-of-memory kill or a preempted machine loses at most that much; 0: only at epoch ends. Ctrl-C always saves where it stops.',
      ),
  })
  .describe('The training loop.');

export const criticSchema = z
  .strictObject({
    steps: posInt('Critic (discriminator) steps per generator step.').default(1),
    warmup: z
      .strictObject({
        steps: posInt('Critic steps per generator step during warm-up.'),
        generatorSteps: posInt('Warm-up lasts while the generator step is below this.'),
      })
      .optional()
      .describe('More critic steps at the start (WGAN reference: 100 while generator step < 25).'),
    periodic: z
      .strictObject({
        steps: posInt('Critic steps on periodic generator steps.'),
        every: posInt('On every generator step divisible by this (step 0 included).'),
      })
      .optional()
      .describe('Periodic extra critic steps (WGAN reference: 100 every 500 generator steps).'),
    clip: z.number().positive().optional().describe('Clip critic weights to ±clip before every critic step (WGAN).'),
  })
  .describe('The discriminator schedule.');

export const GAN_PRESETS = ['wgan-2017'] as const;

export const ganSchema = z
  .strictObject({
    preset: z
      .enum(GAN_PRESETS)
      .optional()
      .describe(
        'A published recipe as a starting point; any field the spec sets explicitly wins. `wgan-2017`: the WGAN paper (Arjovsky et al. 2017) and its reference code: gan.kind wgan, critic 5 steps per generator step, 100 for the first 25 generator steps and every 500th, clip ±0.01, train.optimizer rmsprop with lr 5e-5, momentum 0, decay 0.99, epsilon 1e-8 (PyTorch\'s RMSprop), batchSize 64.',
      ),
    kind: z.enum(['gan', 'dcgan', 'wgan']).default('dcgan').describe('`gan` (dense, cross-entropy), `dcgan` (convolutional), `wgan` (critic with weight clipping).'),
    latent: posInt('Size of the noise vector.').default(100),
    width: posInt('Filters in the first convolution of the dcgan/wgan networks (the discriminator doubles it once).').default(32),
    critic: criticSchema.prefault({}),
    bootstrap: int('Discriminator-only batches before the loop (dcgan).').min(0).default(0),
    sampleEvery: posInt('Write a sample grid every this many generator steps.').default(100),
    samples: posInt('Generated samples for the quality score.').default(1000),
    stop: z
      .strictObject({
        metric: z
          .enum(['frechet_distance', 'class_coverage'])
          .default('frechet_distance')
          .describe('Quality metric watched: `frechet_distance` (lower is better) or `class_coverage` (higher is better).'),
        every: posInt('Score the generator every this many generator steps, and after the last one.').default(500),
        patience: posInt('Stop after this many scores without an improvement.').default(3),
        minDelta: z.number().min(0).default(0).describe('An improvement must beat the best score by more than this.'),
        samples: posInt('Generated samples per score while training (fewer than `gan.samples`: it runs many times).').default(500),
        restoreBest: z.boolean().default(true).describe('End with the generator of the best score (kept in the work folder), so evaluate and the saved generator use it.'),
      })
      .optional()
      .describe(
        'Early stopping on the sample-quality score: `train.steps` stays the limit, and training ends sooner once the score has not improved for `patience` scores. Needs the quality score (28×28×1 digits, `preprocess.normalize` unit or symmetric, `evaluate.quality`). Resume and Ctrl-C keep the patience count and the best generator.',
      ),
  })
  .describe('GAN training (task: gan).');

export const evaluateSchema = z
  .strictObject({
    topK: posInt('k of the top-k accuracy.').default(5),
    nearest: z
      .strictObject({
        k: posInt('Neighbours returned per query.').default(5),
        approximate: z.boolean().default(true).describe('Also search with an approximate (HNSW) index and report its recall against exact search.'),
      })
      .optional()
      .describe('Nearest-neighbour evaluation of predicted vectors (embedding targets).'),
    every: posInt('Evaluate on the validation set every this many epochs.').default(1),
    crop: z
      .enum(CROPS)
      .optional()
      .describe(
        'Evaluate with this crop instead of the training crop (`preprocess.crop`, the default): the train/test crop discrepancy studied by FixRes. The validation images are cropped again and the whole model is evaluated; a sweep can vary it as an axis.',
      ),
    quality: z.boolean().default(true).describe('GANs: compute the sample-quality score (Fréchet distance and class coverage).'),
  })
  .describe('What is measured on the validation set.');

export const trackSchema = z
  .strictObject({
    uri: z.string().optional().describe('Tracking store: a folder (default `runs`) or an MLflow server http(s)://…; MLFLOW_TRACKING_URI overrides the default.'),
    experiment: z.string().optional().describe('MLflow experiment name (default: the spec name).'),
    runName: z.string().optional().describe('Run name shown in MLflow (default: generated from the spec name and overrides).'),
    tags: z.record(z.string(), z.string()).default({}).describe('Extra tags for every run.'),
  })
  .describe('Where runs are recorded.');

export const cacheSchema = z
  .strictObject({
    dir: z
      .string()
      .default('.cache/ablate')
      .describe('Stage cache folder, shared by every run and sweep trial (outside runs/: MLflow reads every folder there as an experiment).'),
    enabled: z.boolean().default(true).describe('Set false to recompute every stage (benchmarks).'),
  })
  .describe('The stage cache.');
