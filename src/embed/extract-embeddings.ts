/**
 * Images → feature vectors through a cut backbone, computed once per (image content, extractor) and kept in an
 * EmbeddingCache.
 *
 * Pipeline: files are read and hashed (sha256 of the bytes) in chunks with bounded concurrency; each chunk is
 * looked up in the cache; misses are grouped into batches whose decode + preprocessing (sharp, on its own thread
 * pool) starts immediately, up to `prefetchBatches` batches ahead of the one ONNX Runtime is running. Each finished
 * batch is written to the cache in one transaction, so an interrupted run loses at most the batch in flight and a
 * rerun computes only what is missing. The session is created lazily: a run where every image hits never loads
 * the backbone.
 */
import { readFile } from 'node:fs/promises';
import { FinetuneError } from '../errors.js';
import { preprocessImage } from '../image/preprocess-image.js';
import type { ModelSession, SessionProvider } from '../runtime/model-session.js';
import type { Device, FeatureExtractorSpec, PreprocessSpec, ProgressCallback } from '../types.js';
import { sha256 } from '../util/hash.js';
import { checkEmbeddingDim, extractorKey, type EmbeddingCache } from './embedding-cache.js';

/** The cut backbone as bytes plus what extraction needs to know about it (from cutBackbone). */
export interface FeatureExtractor {
  readonly modelBytes: Uint8Array;
  readonly inputName: string;
  readonly spec: FeatureExtractorSpec;
  readonly embeddingDim: number;
  /** Output holding the features. @defaultValue the model's first output */
  readonly outputName?: string;
}

/** Writes one image's `3 × cropSize²` input values into `options.out` at `options.outOffset`. */
export type PreprocessFn = (input: Uint8Array, spec: PreprocessSpec,
  options: { out: Float32Array; outOffset: number; sourceName: string }) => Promise<unknown>;

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
  /** Only embed images whose content hash falls in shard `index` of `count` ({@link shardOf}). */
  readonly shard?: { readonly index: number; readonly count: number };
}

export interface FailedImage {
  readonly index: number;
  readonly path: string;
  readonly reason: string;
}

export interface ExtractionResult {
  /** [okIndices.length × embeddingDim], row r belongs to items[okIndices[r]]. */
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

/** Batch size for a model: 32 for small models (≤ 30 MB), 16 up to 150 MB (ResNet-50), 8 above (VGG). */
export function defaultBatchSize(modelSizeBytes: number): number {
  if (modelSizeBytes <= 30e6) return 32;
  if (modelSizeBytes <= 150e6) return 16;
  return 8;
}

/** The shard an image belongs to: the first 48 bits of its sha256, modulo `count`. Stable across machines. */
export function shardOf(imageSha: string, count: number): number {
  return Number(BigInt(`0x${imageSha.slice(0, 12)}`) % BigInt(count));
}

/** A bounded FIFO between the decode side and the inference side; `fail` wakes both with an error. */
class BoundedQueue<T> {
  readonly #items: T[] = [];
  #waiters: Array<() => void> = [];
  #closed = false;
  #error: unknown = undefined;
  constructor(readonly capacity: number) {}

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  async push(item: T): Promise<void> {
    while (this.#items.length >= this.capacity && this.#error === undefined) await new Promise<void>((r) => this.#waiters.push(r));
    if (this.#error !== undefined) throw this.#error;
    this.#items.push(item);
    this.#wake();
  }

  /** The next item, or undefined once closed and drained. */
  async shift(): Promise<T | undefined> {
    while (this.#items.length === 0 && !this.#closed && this.#error === undefined) await new Promise<void>((r) => this.#waiters.push(r));
    if (this.#error !== undefined) throw this.#error;
    const item = this.#items.shift();
    this.#wake();
    return item;
  }

  close(): void {
    this.#closed = true;
    this.#wake();
  }

  fail(error: unknown): void {
    if (this.#error === undefined) this.#error = error ?? new Error('aborted');
    this.#wake();
  }
}

interface PendingImage {
  readonly index: number;
  readonly sha: string;
  bytes: Uint8Array | null;
}

interface PreparedBatch {
  readonly shas: string[];
  readonly tensor: Float32Array;
  readonly error: unknown;
}

const reasonOf = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!;
};

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`extractEmbeddings: '${name}' must be a positive integer, got ${value}.`);
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The extraction was aborted.', 'AbortError');
}

/**
 * Embeds `items` with the extractor, reusing and filling `options.cache`. Unreadable images are skipped and
 * listed in `failed` (or fatal with `strict`). See the file comment for the pipeline.
 */
export async function extractEmbeddings(items: ReadonlyArray<{ readonly path: string }>, extractor: FeatureExtractor,
  options: ExtractEmbeddingsOptions): Promise<ExtractionResult> {
  const started = performance.now();
  const cache = options.cache;
  const spec = extractor.spec;
  const embeddingDim = extractor.embeddingDim;
  const batchSize = options.batchSize ?? defaultBatchSize(extractor.modelBytes.byteLength);
  const concurrency = options.concurrency ?? 16;
  const prefetchBatches = options.prefetchBatches ?? 2;
  const strict = options.strict ?? false;
  const variant = options.variant ?? '';
  const preprocess: PreprocessFn = options.preprocess ?? preprocessImage;
  const { signal, onProgress, shard } = options;
  checkPositiveInteger('batchSize', batchSize);
  checkPositiveInteger('concurrency', concurrency);
  checkPositiveInteger('prefetchBatches', prefetchBatches);
  checkPositiveInteger('embeddingDim', embeddingDim);
  if (shard !== undefined && !(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index)
    && shard.index >= 0 && shard.index < shard.count)) {
    throw new RangeError(`extractEmbeddings: 'shard' must satisfy 0 ≤ index < count, got ${shard.index}/${shard.count}.`);
  }
  signal?.throwIfAborted();
  const cropSize = spec.preprocess.cropSize;
  const imageSize = 3 * cropSize * cropSize;
  const inputDims = (rows: number): number[] =>
    spec.preprocess.layout === 'NCHW' ? [rows, 3, cropSize, cropSize] : [rows, cropSize, cropSize, 3];

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
  const total = items.length;
  const shas = new Array<string | undefined>(total);
  const failures = new Map<number, string>();
  const failureBySha = new Map<string, string>();
  const vectorBySha = new Map<string, Float32Array>();
  const queuedShas = new Set<string>();
  let cacheHits = 0, computed = 0, backboneBatches = 0, otherShards = 0, done = 0;
  let provider: SessionProvider | null = options.session?.provider ?? null;

  const report = (status: 'start' | 'progress' | 'done'): void => {
    if (onProgress === undefined) return;
    const seconds = (performance.now() - started) / 1000;
    const imagesPerSecond = seconds > 0 ? done / seconds : 0;
    onProgress({
      stage: 'embed', status, done, total, cacheHits, computed, failed: failures.size, imagesPerSecond,
      etaSeconds: status === 'done' ? 0 : imagesPerSecond > 0 ? (total - done) / imagesPerSecond : null,
      ...(provider === null ? {} : { provider }),
    });
  };

  const fail = (index: number, reason: string, cause?: unknown): void => {
    const path = items[index]!.path;
    if (strict) {
      throw cause instanceof FinetuneError && cause.code === 'IMAGE_DECODE_FAILED' ? cause
        : new FinetuneError('IMAGE_DECODE_FAILED', `Cannot use image "${path}": ${reason}.`,
          'Fix or remove the file, or run without --strict to skip unreadable images.', cause === undefined ? undefined : { cause });
    }
    failures.set(index, reason);
    done++;
  };

  // #region session (lazy)
  let sessionPromise: Promise<ModelSession> | undefined = options.session ? Promise.resolve(options.session) : undefined;
  const ensureSession = (): Promise<ModelSession> => {
    if (sessionPromise === undefined) {
      // onnxruntime-node (a large native library) loads only when something needs computing.
      sessionPromise = import('../runtime/session.js').then(({ createSession }) => createSession(extractor.modelBytes, {
        device: options.device ?? 'auto',
        ...(options.intraOpNumThreads === undefined ? {} : { intraOpNumThreads: options.intraOpNumThreads }),
      }));
      sessionPromise.catch(() => undefined);   // awaited by the inference loop; avoid an unhandled rejection meanwhile
    }
    return sessionPromise;
  };
  // #endregion

  // #region decode side
  const prepare = async (batch: PendingImage[]): Promise<PreparedBatch> => {
    const tensor = new Float32Array(batch.length * imageSize);
    const ok = await Promise.all(batch.map(async (image, slot) => {
      try {
        await preprocess(image.bytes!, spec.preprocess, { out: tensor, outOffset: slot * imageSize, sourceName: items[image.index]!.path });
        return true;
      } catch (error) {
        return error;
      } finally {
        image.bytes = null;
      }
    }));
    const kept: string[] = [];
    try {
      for (let slot = 0; slot < batch.length; slot++) {
        const image = batch[slot]!;
        const outcome = ok[slot];
        if (outcome !== true) {
          const reason = reasonOf(outcome);
          failureBySha.set(image.sha, reason);
          fail(image.index, reason, outcome);
          continue;
        }
        if (kept.length !== slot) tensor.copyWithin(kept.length * imageSize, slot * imageSize, (slot + 1) * imageSize);
        kept.push(image.sha);
      }
    } catch (error) {
      return { shas: [], tensor, error };
    }
    return { shas: kept, tensor: tensor.subarray(0, kept.length * imageSize), error: undefined };
  };

  const queue = new BoundedQueue<Promise<PreparedBatch>>(prefetchBatches);

  const produce = async (): Promise<void> => {
    const chunkSize = Math.max(64, 2 * batchSize);
    let misses: PendingImage[] = [];
    const flush = async (force: boolean): Promise<void> => {
      while (misses.length >= batchSize || (force && misses.length > 0)) {
        const batch = misses.slice(0, batchSize);
        misses = misses.slice(batchSize);
        void ensureSession();
        await queue.push(prepare(batch));
      }
    };
    for (let chunkStart = 0; chunkStart < total; chunkStart += chunkSize) {
      if (signal?.aborted) throw abortError(signal);
      const chunkEnd = Math.min(total, chunkStart + chunkSize);
      const bytesByIndex = new Map<number, Uint8Array>();
      // Read and hash with bounded concurrency.
      let next = chunkStart;
      const readErrors: Array<[number, string, unknown]> = [];
      await Promise.all(Array.from({ length: Math.min(concurrency, chunkEnd - chunkStart) }, async () => {
        while (next < chunkEnd) {
          const index = next++;
          try {
            const bytes = await readFile(items[index]!.path);
            if (bytes.length === 0) { readErrors.push([index, 'empty file (0 bytes)', undefined]); continue; }
            shas[index] = sha256(bytes);
            bytesByIndex.set(index, bytes);
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            readErrors.push([index, code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : reasonOf(error), error]);
          }
        }
      }));
      readErrors.sort((a, b) => a[0] - b[0]);
      for (const [index, reason, cause] of readErrors) fail(index, reason, cause);
      // Look up what is new, in item order.
      const lookup: string[] = [];
      for (let index = chunkStart; index < chunkEnd; index++) {
        const sha = shas[index];
        if (sha === undefined) continue;
        if (shard !== undefined && shardOf(sha, shard.count) !== shard.index) {
          otherShards++;
          done++;
          bytesByIndex.delete(index);
          continue;
        }
        if (!vectorBySha.has(sha) && !queuedShas.has(sha)) lookup.push(sha);
      }
      const found = cache.getMany(key, lookup, { variant });
      for (const [sha, vector] of found) vectorBySha.set(sha, vector);
      for (let index = chunkStart; index < chunkEnd; index++) {
        const sha = shas[index];
        const bytes = bytesByIndex.get(index);
        if (sha === undefined || bytes === undefined) continue;
        if (vectorBySha.has(sha)) { cacheHits++; done++; continue; }
        if (queuedShas.has(sha)) { cacheHits++; done++; continue; }   // same content as an image already queued
        queuedShas.add(sha);
        misses.push({ index, sha, bytes });
      }
      report('progress');
      await flush(false);
    }
    await flush(true);
  };
  // #endregion

  // #region inference side
  const consume = async (): Promise<void> => {
    for (;;) {
      const pending = await queue.shift();
      if (pending === undefined) return;
      const batch = await pending;
      if (batch.error !== undefined) throw batch.error;
      if (signal?.aborted) throw abortError(signal);
      const rows = batch.shas.length;
      if (rows === 0) { report('progress'); continue; }
      const session = await ensureSession();
      provider = session.provider;
      const features = await runBackbone(session, extractor, batch.tensor, rows, inputDims, imageSize);
      ensureRegistered();
      cache.putMany(key, batch.shas.map((sha, row) => ({
        imageSha: sha, vector: features.subarray(row * embeddingDim, (row + 1) * embeddingDim) })), { variant });
      for (let row = 0; row < rows; row++) vectorBySha.set(batch.shas[row]!, features.subarray(row * embeddingDim, (row + 1) * embeddingDim));
      backboneBatches++;
      computed += rows;
      done += rows;
      report('progress');
    }
  };
  // #endregion

  report('start');
  const onAbort = (): void => queue.fail(abortError(signal!));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // Wait for both sides to settle (so nothing runs on after we return), then surface the first error.
    const outcomes = await Promise.allSettled([
      produce().then(() => queue.close(), (error: unknown) => { queue.fail(error); throw error; }),
      consume().catch((error: unknown) => { queue.fail(error); throw error; }),
    ]);
    const rejected = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
    if (cacheHits > 0) ensureRegistered();   // marks the extractor as used now, for `cache prune --older-than`
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (options.session === undefined && sessionPromise !== undefined) {
      const session = await sessionPromise.catch(() => undefined);
      await session?.release();
    }
  }

  // Assemble in item order; duplicates of a failed image fail with the same reason.
  const okIndices: number[] = [];
  const imageShas: string[] = [];
  const failed: FailedImage[] = [];
  for (let index = 0; index < total; index++) {
    const sha = shas[index];
    const failure = failures.get(index) ?? (sha === undefined ? undefined : failureBySha.get(sha));
    if (failure !== undefined) {
      failed.push({ index, path: items[index]!.path, reason: failure });
      if (!failures.has(index)) { failures.set(index, failure); cacheHits--; }
      continue;
    }
    if (sha !== undefined && vectorBySha.has(sha)) { okIndices.push(index); imageShas.push(sha); }
  }
  const features = new Float32Array(okIndices.length * embeddingDim);
  for (let row = 0; row < okIndices.length; row++) features.set(vectorBySha.get(imageShas[row]!)!, row * embeddingDim);
  report('done');
  return {
    features, embeddingDim, okIndices, imageShas, failed, cacheHits, computed, backboneBatches, otherShards, provider,
    extractorKey: key, seconds: (performance.now() - started) / 1000,
  };
}

/** Images per onnxruntime run on the CPU provider (see runBackbone). */
const CPU_ROWS_PER_RUN = 8;

/**
 * Runs `rows` preprocessed images through the backbone and returns [rows × embeddingDim] features.
 * A model with a fixed batch dimension (e.g. 1) is run in slices of that size, the last one zero-padded.
 */
async function runBackbone(session: ModelSession, extractor: FeatureExtractor, tensor: Float32Array, rows: number,
  inputDims: (rows: number) => number[], imageSize: number): Promise<Float32Array> {
  const { embeddingDim, inputName } = extractor;
  const outputName = extractor.outputName ?? session.outputNames[0];
  if (outputName === undefined) throw new FinetuneError('MODEL_INVALID', 'The cut backbone has no outputs.');
  const declared = session.inputs.find((input) => input.name === inputName)?.shape[0];
  const fixedBatch = typeof declared === 'number' && declared > 0 ? declared : null;
  // onnxruntime-node runs a session synchronously on the main thread. sharp needs the main thread between
  // its steps (metadata → resize → buffer), so one long run would stall the decoding of the next batches.
  // On the CPU, runs of a few images cost the same per image and give decoding a turn between them.
  const step = fixedBatch ?? (session.provider === 'cpu' ? Math.min(rows, CPU_ROWS_PER_RUN) : rows);
  const features = new Float32Array(rows * embeddingDim);
  for (let start = 0; start < rows; start += step) {
    const count = Math.min(step, rows - start);
    let input = tensor.subarray(start * imageSize, (start + count) * imageSize);
    if (fixedBatch !== null && count < fixedBatch) {
      const padded = new Float32Array(fixedBatch * imageSize);
      padded.set(input);
      input = padded;
    }
    const runRows = fixedBatch ?? count;
    const outputs = await session.runFloat(inputName, input, inputDims(runRows), { outputNames: [outputName] });
    const output = outputs[outputName]!;
    if (output.data.length !== runRows * embeddingDim) {
      throw new FinetuneError('INFERENCE_FAILED',
        `Backbone output "${outputName}" has dims [${output.dims.join(', ')}], expected ${runRows} × ${embeddingDim} values (embeddingDim ${embeddingDim}).`,
        'The cut tensor is not a feature vector per image; cut at another layer or add pooling (--layer, --pooling).');
    }
    features.set(output.data.subarray(0, count * embeddingDim), start * embeddingDim);
  }
  return features;
}
