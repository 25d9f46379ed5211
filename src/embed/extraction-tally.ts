/**
 * What an extraction knows about each image while it runs: its content hash, whether it failed (and why), its
 * vector once found or computed, and the counts behind the progress events. One object instead of locals shared
 * by the producer and the consumer, so each step of extract-embeddings.ts reads as what it does.
 */
import { FinetuneError } from '../errors.js';
import type { SessionProvider } from '../runtime/model-session.js';
import type { FailedImage, ProgressEvent } from '../types.js';

/** The per-image outcome in item order: rows of embedded images and the failures. */
export interface TallyOutcome {
  /** [okIndices.length × embeddingDim]. */
  readonly features: Float32Array;
  readonly okIndices: number[];
  readonly imageShas: string[];
  readonly failed: FailedImage[];
}

export class ExtractionTally {
  /** sha256 of each item's bytes, once read. */
  readonly #shas: Array<string | undefined>;
  readonly #failures = new Map<number, string>();
  /** Decode failures by content, so duplicates of a failed image fail with the same reason. */
  readonly #failureBySha = new Map<string, string>();
  readonly #vectorBySha = new Map<string, Float32Array>();
  /** Contents with a vector (cached or computed), when the vectors themselves are not kept. */
  readonly #embeddedShas = new Set<string>();
  /** Contents sent to the backbone (or about to be): later duplicates count as hits. */
  readonly #queuedShas = new Set<string>();
  readonly #started = performance.now();
  cacheHits = 0;
  computed = 0;
  backboneBatches = 0;
  otherShards = 0;
  done = 0;
  provider: SessionProvider | null;

  /**
   * `collectFeatures` false keeps only which contents have a vector, not the vectors: memory stays flat in the
   * number of images (finetune embed only fills the cache).
   */
  constructor(private readonly items: ReadonlyArray<{ readonly path: string }>, private readonly strict: boolean,
    provider: SessionProvider | null, readonly collectFeatures = true) {
    this.#shas = new Array<string | undefined>(items.length);
    this.provider = provider;
  }

  get total(): number {
    return this.items.length;
  }

  get seconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  pathOf(index: number): string {
    return this.items[index]!.path;
  }

  shaOf(index: number): string | undefined {
    return this.#shas[index];
  }

  setSha(index: number, sha: string): void {
    this.#shas[index] = sha;
  }

  /** True when this content has a vector already or is on its way to the backbone. */
  isKnown(sha: string): boolean {
    return this.#hasVector(sha) || this.#queuedShas.has(sha);
  }

  #hasVector(sha: string): boolean {
    return this.collectFeatures ? this.#vectorBySha.has(sha) : this.#embeddedShas.has(sha);
  }

  /**
   * Records that image `index` cannot be used. With `strict` this throws IMAGE_DECODE_FAILED (or `cause` when it
   * already is one) instead.
   */
  fail(index: number, reason: string, cause?: unknown): void {
    if (this.strict) {
      throw cause instanceof FinetuneError && cause.code === 'IMAGE_DECODE_FAILED' ? cause
        : new FinetuneError('IMAGE_DECODE_FAILED', `Cannot use image "${this.pathOf(index)}": ${reason}.`,
          'Fix or remove the file, or run without --strict to skip unreadable images.', cause === undefined ? undefined : { cause });
    }
    this.#failures.set(index, reason);
    this.done++;
  }

  /** Records a decode failure of content `sha` (for its duplicates), then fails image `index`. */
  failContent(index: number, sha: string, reason: string, cause?: unknown): void {
    this.#failureBySha.set(sha, reason);
    this.fail(index, reason, cause);
  }

  /** Image `index` belongs to another shard. */
  skipOtherShard(): void {
    this.otherShards++;
    this.done++;
  }

  /** Vectors found in the cache. */
  addCached(found: ReadonlyMap<string, Float32Array> | ReadonlySet<string>): void {
    if (found instanceof Set) {
      if (this.collectFeatures) throw new TypeError('ExtractionTally.addCached: collecting features needs the vectors, not just their shas.');
      for (const sha of found) this.#embeddedShas.add(sha);
      return;
    }
    for (const [sha, vector] of found as ReadonlyMap<string, Float32Array>) {
      if (this.collectFeatures) this.#vectorBySha.set(sha, vector);
      else this.#embeddedShas.add(sha);
    }
  }

  /** Image served from the cache, or identical to one computed (or queued) in this run. */
  hit(): void {
    this.cacheHits++;
    this.done++;
  }

  /** Content `sha` goes to the backbone. */
  queue(sha: string): void {
    this.#queuedShas.add(sha);
  }

  /** One backbone batch finished: `features` holds one `embeddingDim` row per sha. */
  addComputed(shas: readonly string[], features: Float32Array, embeddingDim: number): void {
    for (let row = 0; row < shas.length; row++) {
      if (this.collectFeatures) this.#vectorBySha.set(shas[row]!, features.subarray(row * embeddingDim, (row + 1) * embeddingDim));
      else this.#embeddedShas.add(shas[row]!);
    }
    this.backboneBatches++;
    this.computed += shas.length;
    this.done += shas.length;
  }

  progress(status: 'start' | 'progress' | 'done'): ProgressEvent {
    const seconds = this.seconds;
    const imagesPerSecond = seconds > 0 ? this.done / seconds : 0;
    return {
      stage: 'embed', status, done: this.done, total: this.total, cacheHits: this.cacheHits, computed: this.computed,
      failed: this.#failures.size, imagesPerSecond,
      etaSeconds: status === 'done' ? 0 : imagesPerSecond > 0 ? (this.total - this.done) / imagesPerSecond : null,
      ...(this.provider === null ? {} : { provider: this.provider }),
    };
  }

  /**
   * The outcome in item order. Duplicates of an image that failed to decode fail with the same reason (and stop
   * counting as cache hits).
   */
  assemble(embeddingDim: number): TallyOutcome {
    const okIndices: number[] = [];
    const imageShas: string[] = [];
    const failed: FailedImage[] = [];
    for (let index = 0; index < this.total; index++) {
      const sha = this.#shas[index];
      const failure = this.#failures.get(index) ?? (sha === undefined ? undefined : this.#failureBySha.get(sha));
      if (failure !== undefined) {
        failed.push({ index, path: this.pathOf(index), reason: failure });
        if (!this.#failures.has(index)) { this.#failures.set(index, failure); this.cacheHits--; }
        continue;
      }
      if (sha !== undefined && this.#hasVector(sha)) { okIndices.push(index); imageShas.push(sha); }
    }
    if (!this.collectFeatures) return { features: new Float32Array(0), okIndices, imageShas, failed };
    const features = new Float32Array(okIndices.length * embeddingDim);
    for (let row = 0; row < okIndices.length; row++) features.set(this.#vectorBySha.get(imageShas[row]!)!, row * embeddingDim);
    return { features, okIndices, imageShas, failed };
  }
}
