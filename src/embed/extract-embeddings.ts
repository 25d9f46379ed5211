/**
 * Images → feature vectors through a cut backbone, computed once per (image content, extractor) and kept in an
 * EmbeddingCache.
 *
 * The pipeline, one module per step:
 * 1. miss-batches.ts (producer): files are read and hashed (sha256 of the bytes) in chunks with bounded
 *    concurrency; each chunk is looked up in the cache; the misses come out in batches of `batchSize`.
 * 2. decode-batch.ts: each batch's decode + preprocessing (sharp, on its own thread pool) starts as soon as the
 *    batch exists, up to `prefetchBatches` batches ahead of the one ONNX Runtime is running (util/run-ahead.ts).
 * 3. run-backbone.ts (consumer, `for await`): the backbone runs each decoded batch; the batch is written to the
 *    cache in one transaction, so an interrupted run loses at most the batch in flight and a rerun computes only
 *    what is missing.
 * extraction-tally.ts keeps the per-image outcome and the counts. The session is created lazily: a run where
 * every image hits never loads the backbone.
 */
import { FinetuneError } from '../errors.js';
import type { ModelSession, SessionProvider } from '../runtime/model-session.js';
import type { Device, FailedImage, FeatureExtractorSpec, ProgressCallback } from '../types.js';
import { copyRows } from '../util/copy-rows.js';
import { abortReason, runAhead } from '../util/run-ahead.js';
import { decodeBatch, type DecodedBatch, type PreprocessFn } from './decode-batch.js';
import { checkEmbeddingDim, extractorKey, type EmbeddingCache } from './embedding-cache.js';
import { ExtractionTally } from './extraction-tally.js';
import { missBatches } from './miss-batches.js';
import { nonFiniteRows, runBackbone, type BackboneIo, type RunBackboneOptions } from './run-backbone.js';

export type { PreprocessFn } from './decode-batch.js';

/** The cut backbone as bytes plus what extraction needs to know about it (from cutBackbone). */
export interface FeatureExtractor {
  readonly modelBytes: Uint8Array;
  /** The backbone's size, for the default batch size. @defaultValue `modelBytes.byteLength` */
  readonly modelSizeBytes?: number;
  readonly inputName: string;
  readonly spec: FeatureExtractorSpec;
  readonly embeddingDim: number;
  /** Output holding the features. @defaultValue the model's first output */
  readonly outputName?: string;
  /** The backbone's name for messages (zoo id or file path). @defaultValue its sha256, shortened */
  readonly name?: string;
}

/**
 * A FeatureExtractor whose model is produced on demand: `loadModel` runs the first time an image misses the
 * cache, so a run served entirely from the cache never reads or cuts the backbone (describeBackbone). It gives the
 * cut model's bytes or the path of a file holding them (ONNX Runtime then reads the file on its own thread).
 */
export interface LazyFeatureExtractor extends Omit<FeatureExtractor, 'modelBytes' | 'modelSizeBytes'> {
  readonly loadModel: () => Promise<Uint8Array | string>;
  /** The backbone's size, for the default batch size. */
  readonly modelSizeBytes: number;
}

export interface ExtractEmbeddingsOptions {
  readonly cache: EmbeddingCache;
  /** @defaultValue `'auto'` */
  readonly device?: Device;
  /** Images per backbone run. @defaultValue {@link defaultBatchSize} of the model */
  readonly batchSize?: number;
  /** Fail with IMAGE_DECODE_FAILED on the first unreadable image instead of skipping it. @defaultValue `false` */
  readonly strict?: boolean;
  readonly onProgress?: ProgressCallback;
  /** Stops between batches; batches already written stay in the cache. */
  readonly signal?: AbortSignal;
  /** Files read and hashed at once. @defaultValue `16` */
  readonly concurrency?: number;
  /** Batches decoded ahead of the one running. @defaultValue `2` */
  readonly prefetchBatches?: number;
  /** ORT intra-op threads. @defaultValue ORT's default */
  readonly intraOpNumThreads?: number;
  /** Cache variant (augmented view id); `''` is the original image. @defaultValue `''` */
  readonly variant?: string;
  /** Replaces preprocessImage (e.g. an augmenting pipeline; pair it with a `variant`). @defaultValue preprocessImage */
  readonly preprocess?: PreprocessFn;
  /** Use this session instead of creating one (the caller releases it). */
  readonly session?: ModelSession;
  /** Let ORT's intra-op threads spin while waiting for work (see SessionOptions). @defaultValue ORT's default */
  readonly allowSpinning?: boolean;
  /**
   * Return the features. `false` only fills the cache (`features` comes back empty), so memory does not grow with
   * the number of images. @defaultValue `true`
   */
  readonly collectFeatures?: boolean;
  /** Only embed images whose content hash falls in shard `index` of `count` ({@link shardOf}). */
  readonly shard?: { readonly index: number; readonly count: number };
}

export interface ExtractionResult {
  /** [okIndices.length × embeddingDim], row r belongs to items[okIndices[r]]; empty with `collectFeatures: false`. */
  readonly features: Float32Array;
  readonly embeddingDim: number;
  /** Indices into `items` of the embedded images, ascending. */
  readonly okIndices: number[];
  /** sha256 of each embedded image's bytes, aligned with okIndices. */
  readonly imageShas: string[];
  /** Images that could not be read or decoded, with the reason. */
  readonly failed: FailedImage[];
  /** Images served from the cache (or identical to an image computed earlier in this run). */
  readonly cacheHits: number;
  /** Images run through the backbone. */
  readonly computed: number;
  readonly backboneBatches: number;
  /** Images left to other shards (0 without `shard`). */
  readonly otherShards: number;
  /** Provider that ran the backbone; null when nothing needed computing. */
  readonly provider: SessionProvider | null;
  readonly extractorKey: string;
  readonly seconds: number;
}

/** preprocessImage, with sharp (a native library) loaded only when an image needs decoding. */
const preprocessImageLazily: PreprocessFn = async (input, spec, options) =>
  (await import('../image/preprocess-image.js')).preprocessImage(input, spec, options);

/** The backbone's size in bytes, for defaultBatchSize. */
function modelSizeOf(extractor: FeatureExtractor | LazyFeatureExtractor): number {
  return extractor.modelSizeBytes ?? ('modelBytes' in extractor ? extractor.modelBytes.byteLength : 0);
}

/** Batch size for a model: 32 for small models (≤ 30 MB), 16 up to 150 MB (ResNet-50), 8 above (VGG). */
export function defaultBatchSize(modelSizeBytes: number): number {
  if (modelSizeBytes <= 30e6) return 32;
  if (modelSizeBytes <= 150e6) return 16;
  return 8;
}

interface ResolvedOptions {
  readonly batchSize: number;
  readonly concurrency: number;
  readonly prefetchBatches: number;
  readonly strict: boolean;
  readonly variant: string;
  readonly preprocess: PreprocessFn;
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`extractEmbeddings: '${name}' must be a positive integer, got ${value}.`);
}

/** Defaults resolved and every option checked, before any work. */
function resolveOptions(extractor: FeatureExtractor | LazyFeatureExtractor, options: ExtractEmbeddingsOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    batchSize: options.batchSize ?? defaultBatchSize(modelSizeOf(extractor)),
    concurrency: options.concurrency ?? 16,
    prefetchBatches: options.prefetchBatches ?? 2,
    strict: options.strict ?? false,
    variant: options.variant ?? '',
    preprocess: options.preprocess ?? preprocessImageLazily,
  };
  checkPositiveInteger('batchSize', resolved.batchSize);
  checkPositiveInteger('concurrency', resolved.concurrency);
  checkPositiveInteger('prefetchBatches', resolved.prefetchBatches);
  checkPositiveInteger('embeddingDim', extractor.embeddingDim);
  const { shard } = options;
  if (shard !== undefined && !(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index)
    && shard.index >= 0 && shard.index < shard.count)) {
    throw new RangeError(`extractEmbeddings: 'shard' must satisfy 0 ≤ index < count, got ${shard.index}/${shard.count}.`);
  }
  return resolved;
}

/**
 * The backbone session, created on first use (onnxruntime-node, a large native library, loads only then). It is
 * hosted on a worker thread, so the main thread keeps decoding, hashing and caching while the backbone runs; a
 * session passed by the caller runs where the caller made it.
 */
class LazySession {
  #promise: Promise<ModelSession> | undefined;
  readonly #owned: boolean;

  constructor(private readonly extractor: FeatureExtractor | LazyFeatureExtractor, private readonly options: ExtractEmbeddingsOptions) {
    this.#owned = options.session === undefined;
    if (options.session !== undefined) this.#promise = Promise.resolve(options.session);
  }

  /**
   * Images per ORT run: a whole batch on the worker, its tensor moved there rather than copied; the default (a few,
   * on the CPU) for a caller's session.
   */
  rowsPerRun(rows: number): RunBackboneOptions {
    return this.#owned ? { rowsPerRun: rows, transferInput: true } : {};
  }

  get(): Promise<ModelSession> {
    if (this.#promise === undefined) {
      const { device, intraOpNumThreads, allowSpinning } = this.options;
      const extractor = this.extractor;
      this.#promise = Promise.all([
        import('../runtime/session.js'),
        'modelBytes' in extractor ? extractor.modelBytes : extractor.loadModel(),
      ]).then(([{ createSession }, model]) => createSession(model, {
        device: device ?? 'auto', worker: true,
        ...(intraOpNumThreads === undefined ? {} : { intraOpNumThreads }),
        ...(allowSpinning === undefined ? {} : { allowSpinning }),
      }));
      this.#promise.catch(() => undefined);   // awaited by the consumer; avoid an unhandled rejection meanwhile
    }
    return this.#promise;
  }

  /** Releases the session if this object created it. */
  async release(): Promise<void> {
    if (!this.#owned || this.#promise === undefined) return;
    const session = await this.#promise.catch(() => undefined);
    await session?.release();
  }
}

/** A decoded batch handed to the backbone; `features` settles when the backbone is done with it. */
interface SubmittedBatch {
  readonly batch: DecodedBatch;
  readonly features: Promise<Float32Array>;
}

/**
 * Embeds `items` with the extractor, reusing and filling `options.cache`. Unreadable images are skipped and
 * listed in `failed` (or fatal with `strict`). See the file comment for the pipeline.
 */
export async function extractEmbeddings(items: ReadonlyArray<{ readonly path: string }>, extractor: FeatureExtractor | LazyFeatureExtractor,
  options: ExtractEmbeddingsOptions): Promise<ExtractionResult> {
  const resolved = resolveOptions(extractor, options);
  const { cache, signal, onProgress } = options;
  const { embeddingDim, spec } = extractor;
  signal?.throwIfAborted();

  // The extractor is registered only once a batch's output has confirmed embeddingDim (or a vector hit), so
  // wrong metadata never poisons the store.
  const key = extractorKey(spec);
  const storedDim = cache.embeddingDimOf(key);
  if (storedDim !== null) checkEmbeddingDim(storedDim, embeddingDim);
  let registered = false;
  const ensureRegistered = (): void => {
    if (!registered && !cache.readonly) cache.registerExtractor(spec, embeddingDim);
    registered = true;
  };

  const tally = new ExtractionTally(items, resolved.strict, options.session?.provider ?? null, options.collectFeatures ?? true);
  const report = (status: 'start' | 'progress' | 'done'): void => onProgress?.(tally.progress(status));
  const session = new LazySession(extractor, options);
  const io: BackboneIo = { inputName: extractor.inputName, embeddingDim, preprocess: spec.preprocess,
    ...(extractor.outputName === undefined ? {} : { outputName: extractor.outputName }) };
  const batches = missBatches(tally, {
    cache, extractorKey: key, variant: resolved.variant, batchSize: resolved.batchSize,
    concurrency: resolved.concurrency, shard: options.shard, signal, onChunk: () => report('progress'),
  });
  // The first batch to compute starts loading the backbone (cut, ORT, session), so the load runs while that batch
  // decodes instead of after it. Decoding and inference overlap: sharing the cores by taking turns measured slower.
  const decoded = runAhead(batches, resolved.prefetchBatches, (batch) => {
    void session.get();
    return decodeBatch(batch, spec.preprocess, resolved.preprocess, tally);
  }, signal === undefined ? {} : { signal });

  /** Hands a batch to the backbone. */
  const submit = (batch: DecodedBatch): SubmittedBatch => {
    const rows = batch.shas.length;
    const features = session.get().then((backbone) => {
      tally.provider = backbone.provider;
      return runBackbone(backbone, io, batch.tensor, rows, session.rowsPerRun(rows));
    });
    features.catch(() => undefined);   // awaited by finish(); avoid an unhandled rejection meanwhile
    return { batch, features };
  };
  /** Waits for a batch's features, caches the finite rows, and stops at non-finite ones. */
  const finish = async ({ batch, features: pending }: SubmittedBatch): Promise<void> => {
    const features = await pending;
    const rows = batch.shas.length;
    const bad = new Set(nonFiniteRows(features, embeddingDim));
    const good = bad.size === 0 ? batch.shas : batch.shas.filter((_, row) => !bad.has(row));
    const goodFeatures = bad.size === 0 ? features
      : copyRows(features, embeddingDim, batch.shas.map((_, row) => row).filter((row) => !bad.has(row)));
    if (good.length > 0) {
      ensureRegistered();
      cache.putMany(key, good.map((sha, row) => ({
        imageSha: sha, vector: goodFeatures.subarray(row * embeddingDim, (row + 1) * embeddingDim) })), { variant: resolved.variant });
      tally.addComputed(good, goodFeatures, embeddingDim);
    }
    if (bad.size > 0) throw nonFiniteError(extractor, [...bad].map((row) => tally.pathOf(batch.indices[row]!)), rows);
    report('progress');
  };

  report('start');
  try {
    // One batch computes while the previous one is written and the next ones decode.
    let previous: SubmittedBatch | null = null;
    for await (const batch of decoded) {
      if (batch.error !== undefined) throw batch.error;
      if (signal?.aborted) throw abortReason(signal);
      if (batch.shas.length === 0) { report('progress'); continue; }
      const current = submit(batch);
      if (previous !== null) await finish(previous);
      previous = current;
    }
    if (previous !== null) await finish(previous);
    if (tally.cacheHits > 0) ensureRegistered();   // marks the extractor as used now, for `cache prune --older-than`
  } finally {
    await session.release();
  }

  const outcome = tally.assemble(embeddingDim);
  report('done');
  return {
    ...outcome, embeddingDim, cacheHits: tally.cacheHits, computed: tally.computed, backboneBatches: tally.backboneBatches,
    otherShards: tally.otherShards, provider: tally.provider, extractorKey: key, seconds: tally.seconds,
  };
}

/**
 * INFERENCE_FAILED for a backbone that produced NaN or ±Infinity: such vectors are never cached (every later run
 * would reuse them, and training would blame the learning rate). Names the backbone, the layer and the images.
 */
function nonFiniteError(extractor: FeatureExtractor | LazyFeatureExtractor, paths: readonly string[], batchRows: number): FinetuneError {
  const { spec } = extractor;
  const name = extractor.name ?? `sha256 ${spec.backboneSha256.slice(0, 12)}`;
  const shown = paths.slice(0, 5).map((path) => `"${path}"`).join(', ');
  return new FinetuneError('INFERENCE_FAILED',
    `Backbone "${name}" cut at "${spec.layer}" (pooling ${spec.pooling}) produced non-finite features (NaN or ±Infinity) ` +
    `for ${paths.length} of the ${batchRows} images in a batch: ${shown}${paths.length > 5 ? `, and ${paths.length - 5} more` : ''}. ` +
    'They were not cached; the images embedded before them are.',
    'The backbone overflows at this layer: check it with `finetune inspect <model>`, cut at another --layer, ' +
    'or retry with --device cpu if this happens only on CUDA.');
}
