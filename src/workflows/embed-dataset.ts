/**
 * `finetune embed`: a dataset → cached feature vectors, with nothing trained. Scan the folder or manifest →
 * prepare the backbone → open the cache → extractEmbeddings → counts (and skipped.txt when asked).
 *
 * With a shard (see shard.ts) the worker embeds only the images whose content hash falls in shard K of N and
 * writes them to its own file, `<cacheDir>/embeddings.shard-K-of-N.sqlite`, so N workers on shared storage never
 * share a writer. Beside it goes `embeddings.shard-K-of-N.json`: `state: 'running'` while the worker runs, then
 * `'complete'` with the counts and the images that failed to decode. A worker killed mid-shard leaves
 * `'running'` behind; rerunning the same shard resumes from its cache file (every finished batch is a hit).
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultCachePath, EmbeddingCache, extractorKey } from '../embed/embedding-cache.js';
import { extractEmbeddings } from '../embed/extract-embeddings.js';
import { shardOf } from '../embed/shard-of.js';
import type { PreprocessFn } from '../embed/extract-embeddings.js';
import { hashImageFiles } from '../image/read-image-file.js';
import { scanDataset } from '../image/scan-dataset.js';
import type { SkippedFile } from '../image/scan-dataset.js';
import type { SessionProvider } from '../runtime/model-session.js';
import type { Device, FailedImage, ProgressCallback } from '../types.js';
import { writeJsonAtomic } from '../util/fs.js';
import { embeddingsDir } from '../util/paths.js';
import { describeBackbone } from './prepare-backbone.js';
import type { PrepareBackboneOptions } from './prepare-backbone.js';
import { writeSkipped } from '../run/write-run.js';
import { shardCacheFileName, shardReportPath } from './shard.js';
import type { ShardSpec } from './shard.js';

export interface EmbedDatasetOptions extends PrepareBackboneOptions {
  /** Zoo id or alias, or a path to an .onnx classifier. */
  backbone: string;
  /** Embedding cache folder (`--cache-dir`). @defaultValue `<home>/embeddings` */
  cacheDir?: string;
  /** Exact cache file, overriding `cacheDir` and the shard file name. @defaultValue see {@link embedCachePath} */
  cachePath?: string;
  /** Embed only shard `index` of `count` into its own cache file. @defaultValue none (every image, shared cache) */
  shard?: ShardSpec | null;
  /** @defaultValue `'auto'` */
  device?: Device;
  /** Images per backbone run. @defaultValue chosen per model (defaultBatchSize) */
  batchSize?: number;
  /** Fail on the first unreadable image instead of skipping it. @defaultValue `false` */
  strict?: boolean;
  /** ONNX Runtime intra-op threads; set cores ÷ workers when several workers share a machine. @defaultValue ORT's default */
  intraOpNumThreads?: number;
  /** Folder to write `skipped.txt` into (scan skips + decode failures). @defaultValue none */
  reportDir?: string;
  /** Replaces the image decode/preprocess step (tests use it to slow a worker down). @defaultValue preprocessImage */
  preprocessFn?: PreprocessFn;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

/** An image that could not be embedded; `imageSha` is null when the file could not even be read. */
export interface FailedEmbedding {
  readonly path: string;
  readonly reason: string;
  readonly imageSha: string | null;
}

export interface EmbedDatasetResult {
  readonly dataset: { readonly root: string; readonly classNames: readonly string[]; readonly images: number };
  /** Files the scan left out (not images, empty, unsupported format). */
  readonly skipped: readonly SkippedFile[];
  /** Images in the dataset (after the scan). */
  readonly total: number;
  /** Images this run was responsible for: `total` unsharded, else those whose content hash falls in the shard. */
  readonly inShard: number;
  readonly cacheHits: number;
  readonly computed: number;
  readonly failed: readonly FailedEmbedding[];
  readonly backboneBatches: number;
  /** Provider that ran the backbone; null when everything was cached. */
  readonly provider: SessionProvider | null;
  readonly backbone: { readonly id: string; readonly sha256: string; readonly layer: string; readonly embeddingDim: number };
  readonly extractorKey: string;
  readonly embeddingDim: number;
  readonly cachePath: string;
  readonly shard: ShardSpec | null;
  /** Files written: `skipped` (with reportDir) and `shardReport` (sharded runs). */
  readonly files: Readonly<Record<string, string>>;
  readonly seconds: number;
}

/** What a sharded worker leaves beside its cache file (`embeddings.shard-K-of-N.json`). */
export interface ShardReport {
  readonly version: 1;
  readonly shard: ShardSpec;
  /** `running` until the worker finishes; a worker that died leaves `running` behind. */
  readonly state: 'running' | 'complete';
  readonly extractorKey: string;
  readonly backbone: string;
  readonly dataset: string;
  readonly host: string;
  readonly pid: number;
  /** ISO 8601. */
  readonly startedAt: string;
  readonly finishedAt: string | null;
  /** Images in the dataset; those in this shard; how they went (null while running). */
  readonly imagesTotal: number;
  readonly imagesInShard: number | null;
  readonly computed: number | null;
  readonly cacheHits: number | null;
  /** Images of this shard that failed to decode (imageSha set), or could not be read (imageSha null). */
  readonly failed: readonly FailedEmbedding[];
}

/**
 * The cache file a run writes to: `cachePath` when given; else `<cacheDir>/embeddings.shard-K-of-N.sqlite` for a
 * shard, or `<cacheDir>/embeddings.sqlite` (the shared per-user cache) without one.
 */
export function embedCachePath(options: Pick<EmbedDatasetOptions, 'cachePath' | 'cacheDir' | 'home' | 'shard'>): string {
  if (options.cachePath !== undefined) return resolve(options.cachePath);
  const dir = options.cacheDir !== undefined ? resolve(options.cacheDir) : embeddingsDir(options.home);
  return options.shard ? join(dir, shardCacheFileName(options.shard)) : defaultCachePath(dir);
}

/** Reads a shard report, or null when there is none (or it is unreadable). */
export async function readShardReport(cachePath: string): Promise<ShardReport | null> {
  try {
    const parsed = JSON.parse(await readFile(shardReportPath(cachePath), 'utf8')) as ShardReport;
    return parsed && parsed.version === 1 ? parsed : null;
  } catch {
    return null;
  }
}

/** Embeds a dataset (folder per class or CSV/JSONL manifest) into the cache; see the file comment. */
export async function embedDataset(source: string, options: EmbedDatasetOptions): Promise<EmbedDatasetResult> {
  const started = performance.now();
  const onProgress = options.onProgress ?? (() => undefined);
  const shard = options.shard ?? null;
  if (shard !== null && !(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index)
    && shard.index >= 0 && shard.index < shard.count)) {
    throw new RangeError(`embedDataset: 'shard' must satisfy 0 ≤ index < count, got ${shard.index}/${shard.count}.`);
  }

  // Everything that can fail cheaply comes first: the dataset, then the backbone.
  const dataset = await scanDataset(source, { onProgress });
  onProgress({ stage: 'info', status: 'message', message:
    `Dataset: ${dataset.items.length} images in ${dataset.classNames.length} classes` +
    `${dataset.skipped.length > 0 ? `; ${dataset.skipped.length} files skipped` : ''}` +
    `${shard ? ` · shard ${shard.index}/${shard.count} (0-based)` : ''}` });
  const backbone = await describeBackbone(options.backbone, options);   // cuts only when an image misses the cache
  const { extractor } = backbone;
  onProgress({ stage: 'info', status: 'message', message:
    `Backbone: ${backbone.resolved.id}, cut at "${backbone.cut.featureTensor}" → ${extractor.embeddingDim}-d features` });

  const cachePath = embedCachePath({ ...options, shard });
  const cache = EmbeddingCache.open({ path: cachePath });
  const files: Record<string, string> = {};
  const startedAt = new Date().toISOString();
  const baseReport = {
    version: 1 as const, shard: shard!, extractorKey: '', backbone: backbone.resolved.id, dataset: dataset.root,
    host: hostname(), pid: process.pid, startedAt, imagesTotal: dataset.items.length,
  };
  let extraction;
  try {
    if (shard !== null) {
      files['shardReport'] = shardReportPath(cachePath);
      await writeJsonAtomic(files['shardReport'], {
        ...baseReport, extractorKey: extractorKey(extractor.spec), state: 'running', finishedAt: null,
        imagesInShard: null, computed: null, cacheHits: null, failed: [],
      } satisfies ShardReport);
    }
    extraction = await extractEmbeddings(dataset.items, extractor, {
      cache, device: options.device ?? 'auto', strict: options.strict ?? false, onProgress, collectFeatures: false,
      ...(shard !== null ? { shard } : {}),
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(options.intraOpNumThreads !== undefined ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
      ...(options.preprocessFn !== undefined ? { preprocess: options.preprocessFn } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
  } finally {
    cache.close();
  }

  const failed = await describeFailures(extraction.failed);
  // Unreadable files have no content hash, so every shard reports them; they count in no shard.
  const unreadable = failed.filter((failure) => failure.imageSha === null).length;
  const inShard = dataset.items.length - extraction.otherShards - (shard === null ? 0 : unreadable);
  for (const failure of failed) onProgress({ stage: 'warn', status: 'message', message: `skipped ${failure.path}: ${failure.reason}` });

  if (shard !== null) {
    await writeJsonAtomic(files['shardReport']!, {
      ...baseReport, extractorKey: extraction.extractorKey, state: 'complete', finishedAt: new Date().toISOString(),
      imagesInShard: inShard, computed: extraction.computed, cacheHits: extraction.cacheHits,
      failed: failed.filter((failure) => failure.imageSha === null || shardOf(failure.imageSha, shard.count) === shard.index),
    } satisfies ShardReport);
  }
  if (options.reportDir !== undefined) {
    files['skipped'] = join(resolve(options.reportDir), 'skipped.txt');
    await writeSkipped(files['skipped'], [...dataset.skipped, ...failed.map(({ path, reason }) => ({ path, reason }))]);
  }

  return {
    dataset: { root: dataset.root, classNames: dataset.classNames, images: dataset.items.length },
    skipped: dataset.skipped,
    total: dataset.items.length,
    inShard,
    cacheHits: extraction.cacheHits,
    computed: extraction.computed,
    failed,
    backboneBatches: extraction.backboneBatches,
    provider: extraction.provider,
    backbone: { id: backbone.resolved.id, sha256: backbone.resolved.sha256, layer: backbone.cut.featureTensor, embeddingDim: extractor.embeddingDim },
    extractorKey: extraction.extractorKey,
    embeddingDim: extraction.embeddingDim,
    cachePath,
    shard,
    files,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Adds each failed image's content hash (null when the file cannot be read), to place it in its shard. */
async function describeFailures(failures: readonly FailedImage[]): Promise<FailedEmbedding[]> {
  const shas = await hashImageFiles(failures.map((failure) => failure.path));
  return failures.map((failure, index) => ({ path: failure.path, reason: failure.reason, imageSha: shas[index] ?? null }));
}
