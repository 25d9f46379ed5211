/**
 * Augmentation that works with the embedding cache (Create ML's answer to "feature caching rules out
 * augmentation"): each training image gets K fixed, seeded augmented views; each view is decoded and augmented
 * with sharp (augmentedRgb), normalized like the original, run through the backbone once and cached under the
 * variant `aug:<hash of the augmentation spec>:s<seed>:v<k>`. A rerun with the same spec, seed and K does no
 * backbone work; raising K computes only the new views; another spec or seed computes its own views and leaves
 * the others (and the originals) in the cache.
 *
 * Callers pass training images only: the split comes first, so no view of a validation image is ever computed
 * or read (runFinetune does this).
 */
import { extractEmbeddings } from '../embed/extract-embeddings.js';
import type { ExtractEmbeddingsOptions, FeatureExtractor, PreprocessFn } from '../embed/extract-embeddings.js';
import { FinetuneError } from '../errors.js';
import { augmentSpecKey, augmentedRgb, describeAugmentSpec, isNoAugment } from '../image/augment.js';
import type { AugmentSpec } from '../image/augment.js';
import { normalizePixels } from '../image/preprocess-image.js';
import type { AugmentationSummary } from '../run/run-format.js';
import type { SessionProvider } from '../runtime/model-session.js';
import type { ProgressCallback, ProgressEvent } from '../types.js';
import { sha256 } from '../util/hash.js';

/** Views per image when augmentation is on and no count is given (`--augment-views`). */
export const DEFAULT_AUGMENT_VIEWS = 4;
/**
 * Seed of the views when none is given (`--augment-seed`). Fixed rather than the run's `--seed`, so runs that vary
 * the split or training seed reuse the cached views.
 */
export const DEFAULT_AUGMENT_SEED = 0;
/** Upper bound on `views`: each view costs one backbone pass per training image and K× the training features in memory. */
export const MAX_AUGMENT_VIEWS = 64;

/** Extraction options as for extractEmbeddings (cache, device, batchSize, signal), plus the augmentation. */
export interface EmbedAugmentedViewsOptions extends Pick<ExtractEmbeddingsOptions, 'cache' | 'device' | 'batchSize' | 'signal'> {
  /** Which augmentations make up a view (parseAugmentSpec). */
  readonly augment: AugmentSpec;
  /** Augmented views per image (K); view 0, the original, is not computed here. @defaultValue `4` */
  readonly views?: number;
  /** Seeds the views' random parameters (with each image's sha256 and the view index). @defaultValue `0` */
  readonly seed?: number;
  /** Fail on the first image that cannot be augmented instead of leaving that view out. @defaultValue `false` */
  readonly strict?: boolean;
  /** `embed` events count views (total = images × K); one `info` message first. */
  readonly onProgress?: ProgressCallback;
}

/** A view that could not be made (its original may still be fine; the trainer then never draws it). */
export interface FailedView {
  /** Index into `items`. */
  readonly index: number;
  /** 1-based view index. */
  readonly view: number;
  readonly path: string;
  readonly reason: string;
}

export interface AugmentedViews {
  /**
   * [numItems × numViews × embeddingDim] row-major: view v (1-based) of item i starts at
   * `(i · numViews + v − 1) · embeddingDim` (the layout `fit`'s `views` option reads). Failed views are zeros.
   */
  readonly viewFeatures: Float32Array;
  /** [numItems × numViews], 1 where the view was embedded. */
  readonly okMask: Uint8Array;
  readonly numViews: number;
  readonly embeddingDim: number;
  readonly seed: number;
  /** Cache variant of view v at index v − 1. */
  readonly variants: readonly string[];
  /** sha256 of each item's bytes, `null` where the file could not be read. */
  readonly imageShas: ReadonlyArray<string | null>;
  /** Views served from the cache (or identical to one computed earlier in this call). */
  readonly cacheHits: number;
  /** Views run through the backbone. */
  readonly computed: number;
  readonly backboneBatches: number;
  readonly failed: readonly FailedView[];
  /** Provider that ran the backbone; null when every view was cached. */
  readonly provider: SessionProvider | null;
  readonly seconds: number;
}

/** The embedding-cache variant of one augmented view: spec hash, seed and 1-based view index. */
export function augmentVariant(augment: AugmentSpec, seed: number, viewIndex: number): string {
  return `aug:${sha256(augmentSpecKey(augment)).slice(0, 16)}:s${seed}:v${viewIndex}`;
}

/** A PreprocessFn for extractEmbeddings that writes view `viewIndex` of the image instead of the original. */
export function augmentedPreprocess(augment: AugmentSpec, viewIndex: number, seed: number): PreprocessFn {
  return async (input, spec, { out, outOffset, sourceName }) => {
    const view = await augmentedRgb(input, spec, augment, viewIndex, seed, { sourceName });
    normalizePixels(view.data, spec, out, outOffset);
  };
}

/** Checks views and seed (INVALID_OPTION naming the flag) and returns them with defaults filled in. */
export function resolveAugmentViews(augment: AugmentSpec, views: number | undefined, seed: number | undefined):
    { views: number; seed: number } {
  const resolvedViews = views ?? DEFAULT_AUGMENT_VIEWS;
  const resolvedSeed = seed ?? DEFAULT_AUGMENT_SEED;
  if (!(Number.isInteger(resolvedViews) && resolvedViews >= 1 && resolvedViews <= MAX_AUGMENT_VIEWS))
    throw new FinetuneError('INVALID_OPTION', `--augment-views must be an integer in [1, ${MAX_AUGMENT_VIEWS}], got ${resolvedViews}.`,
      `Pass e.g. --augment-views ${DEFAULT_AUGMENT_VIEWS}.`);
  if (!Number.isSafeInteger(resolvedSeed))
    throw new FinetuneError('INVALID_OPTION', `--augment-seed must be an integer, got ${resolvedSeed}.`, 'Pass e.g. --augment-seed 0.');
  if (isNoAugment(augment))
    throw new FinetuneError('INVALID_OPTION', `The augmentation spec changes nothing (${describeAugmentSpec(augment)}).`,
      'Pass e.g. --augment flip,crop, or leave --augment out.');
  return { views: resolvedViews, seed: resolvedSeed };
}

/**
 * Embeds K seeded augmented views (1..K) of every item through the cut backbone, reusing and filling the cache.
 * View k of all items is extracted in one pass (batched and prefetched like the originals); a pass whose views
 * are all cached never loads the backbone.
 *
 * Memory: the result holds K × the items' feature matrix (e.g. 1 000 images × 4 views × 1 280 floats = 20 MB);
 * while it is filled, one view's [numItems × embeddingDim] extraction result exists besides it.
 */
export async function embedAugmentedViews(items: ReadonlyArray<{ readonly path: string }>, extractor: FeatureExtractor,
  options: EmbedAugmentedViewsOptions): Promise<AugmentedViews> {
  const started = performance.now();
  const { augment, cache, onProgress } = options;
  const { views: numViews, seed } = resolveAugmentViews(augment, options.views, options.seed);
  const embeddingDim = extractor.embeddingDim;
  const numItems = items.length;
  const viewFeatures = new Float32Array(numItems * numViews * embeddingDim);
  const okMask = new Uint8Array(numItems * numViews);
  const variants = Array.from({ length: numViews }, (_, v) => augmentVariant(augment, seed, v + 1));
  const imageShas = new Array<string | null>(numItems).fill(null);
  const failed: FailedView[] = [];
  let cacheHits = 0, computed = 0, backboneBatches = 0, failedCount = 0;
  let provider: SessionProvider | null = null;

  onProgress?.({ stage: 'info', status: 'message', message:
    `Augmentation: ${describeAugmentSpec(augment)}; ${numViews} view(s) of ${numItems} training image(s) (augment seed ${seed})` });
  for (let v = 1; v <= numViews; v++) {
    const before = { done: (v - 1) * numItems, cacheHits, computed, failed: failedCount };
    const forward = onProgress === undefined ? undefined : (event: ProgressEvent): void => {
      if (event.stage !== 'embed') { onProgress(event); return; }
      const status = event.status === 'start' ? (v === 1 ? 'start' : 'progress') : event.status === 'done' ? (v === numViews ? 'done' : 'progress') : 'progress';
      const done = before.done + event.done, total = numItems * numViews;
      const seconds = (performance.now() - started) / 1000;
      const imagesPerSecond = seconds > 0 ? done / seconds : 0;
      onProgress({
        ...event, status, done, total, cacheHits: before.cacheHits + event.cacheHits, computed: before.computed + event.computed,
        failed: before.failed + event.failed, imagesPerSecond,
        etaSeconds: status === 'done' ? 0 : imagesPerSecond > 0 ? (total - done) / imagesPerSecond : null,
      });
    };
    const extraction = await extractEmbeddings(items, extractor, {
      cache, variant: variants[v - 1]!, preprocess: augmentedPreprocess(augment, v, seed),
      device: options.device ?? 'auto', strict: options.strict ?? false,
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(forward !== undefined ? { onProgress: forward } : {}),
    });
    for (let row = 0; row < extraction.okIndices.length; row++) {
      const index = extraction.okIndices[row]!;
      viewFeatures.set(extraction.features.subarray(row * embeddingDim, (row + 1) * embeddingDim), (index * numViews + v - 1) * embeddingDim);
      okMask[index * numViews + v - 1] = 1;
      imageShas[index] = extraction.imageShas[row]!;
    }
    for (const failure of extraction.failed) failed.push({ index: failure.index, view: v, path: failure.path, reason: failure.reason });
    cacheHits += extraction.cacheHits;
    computed += extraction.computed;
    backboneBatches += extraction.backboneBatches;
    failedCount += extraction.failed.length;
    provider = extraction.provider ?? provider;
  }
  return {
    viewFeatures, okMask, numViews, embeddingDim, seed, variants, imageShas, cacheHits, computed, backboneBatches, failed,
    provider, seconds: (performance.now() - started) / 1000,
  };
}


/** What a run records about its augmentation (run.json `augmentation`); the type is the run folder's. */
export type { AugmentationSummary };

export function summarizeAugmentation(augment: AugmentSpec, views: AugmentedViews): AugmentationSummary {
  return {
    spec: augment, specKey: augmentSpecKey(augment), description: describeAugmentSpec(augment), views: views.numViews,
    seed: views.seed, trainImages: views.imageShas.length, cacheHits: views.cacheHits, computed: views.computed,
    failed: views.failed.length, variants: views.variants, featureBytes: views.viewFeatures.byteLength, seconds: views.seconds,
  };
}
