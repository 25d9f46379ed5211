/**
 * The shared front half of `train`, the one-shot run and `sweep`: scan and split the dataset, prepare the backbone,
 * and embed every image through the cache. Checks that need no backbone work run first.
 */
import { EmbeddingCache, defaultCachePath } from '../embed/embedding-cache.js';
import { extractEmbeddings } from '../embed/extract-embeddings.js';
import type { ExtractionResult } from '../embed/extract-embeddings.js';
import { mergeCaches } from '../embed/merge-caches.js';
import { FinetuneError } from '../errors.js';
import { scanDataset, validateClassCount } from '../image/scan-dataset.js';
import type { Dataset, SkippedFile } from '../image/scan-dataset.js';
import { splitDataset } from '../image/split-dataset.js';
import type { DatasetSplit } from '../image/split-dataset.js';
import type { LabelledFeatures } from '../train/fit.js';
import type { Device, ProgressCallback } from '../types.js';
import { embeddingsDir } from '../util/paths.js';
import { copyRows } from '../util/copy-rows.js';
import { planTrainingMemory } from './out-of-core.js';
import type { TrainingMemoryPlan } from './out-of-core.js';
import { prepareBackbone } from './prepare-backbone.js';
import type { PrepareBackboneOptions, PreparedBackbone } from './prepare-backbone.js';

export interface EmbedSplitOptions extends PrepareBackboneOptions {
  /** Backbone zoo id, alias or .onnx path. */
  backbone: string;
  /** Dataset folder (one sub-folder per class) or CSV/JSONL manifest. */
  data: string;
  /** Expected number of classes; a mismatch fails before any backbone work. @defaultValue not checked */
  classes?: number;
  /** Fraction of each class held out for validation (stratified). @defaultValue `0.2` */
  validationSplit?: number;
  /** Seeds the split (and, in runFinetune, training). @defaultValue `42` */
  seed?: number;
  /** Separate test folder, scanned with the training classes. @defaultValue none */
  test?: string;
  /** @defaultValue `'auto'` */
  device?: Device;
  /** Images per backbone batch. @defaultValue chosen per model size */
  batchSize?: number;
  /** Embedding cache folder. @defaultValue `<home>/embeddings` */
  cacheDir?: string;
  /** Fail on the first unreadable image instead of skipping it. @defaultValue `false` */
  strict?: boolean;
  /**
   * Embedding caches written by sharded `finetune embed --shard K/N` workers, merged into the cache first
   * (idempotent), so the run reuses their vectors. @defaultValue none
   */
  shardCaches?: readonly string[];
  onProgress?: ProgressCallback;
}

export interface EmbeddedSplit {
  readonly dataset: Dataset;
  readonly split: DatasetSplit;
  readonly testSet: Dataset | null;
  readonly backbone: PreparedBackbone;
  readonly extraction: ExtractionResult;
  readonly testExtraction: ExtractionResult | null;
  /** Rows of `extraction.features` in the training / validation split. */
  readonly trainRows: readonly number[];
  readonly validationRows: readonly number[];
  /**
   * The training / validation rows as their own matrices, copied on first access; not available when `memory`
   * says the run streams (the vectors were not kept: read them from the cache, see out-of-core.ts).
   */
  readonly train: LabelledFeatures;
  readonly validation: LabelledFeatures | null;
  /** The memory plan of a run that asked for one (`outOfCore`), made before extraction on the dataset's size; else null. */
  readonly memory: TrainingMemoryPlan | null;
  readonly skipped: readonly SkippedFile[];
  readonly embedSeconds: number;
}

/** Scans the dataset (and test set) and splits it; fails before any backbone work on a bad dataset or class count. */
export async function scanAndSplit(options: Pick<EmbedSplitOptions, 'data' | 'classes' | 'validationSplit' | 'seed' | 'test' | 'onProgress'>):
  Promise<{ dataset: Dataset; split: DatasetSplit; testSet: Dataset | null }> {
  const scanOptions = options.onProgress === undefined ? {} : { onProgress: options.onProgress };
  const dataset = await scanDataset(options.data, scanOptions);
  if (options.classes !== undefined) validateClassCount(dataset, options.classes);
  const split = splitDataset(dataset, { validationSplit: options.validationSplit ?? 0.2, seed: options.seed ?? 42 });
  const testSet = options.test !== undefined ? await scanDataset(options.test, { ...scanOptions, classNames: dataset.classNames }) : null;
  return { dataset, split, testSet };
}

/**
 * With `outOfCore`, the labelled images' features are planned against `maxMemory` (planTrainingMemory, on every
 * image of the dataset: the most rows there can be) before extraction; when they would exceed it, extraction keeps
 * no vectors (they are in the cache) and the caller streams them, unless `needsMemory` names a flag that needs
 * the features in memory: then it fails before extraction.
 */
export async function embedSplit(options: EmbedSplitOptions,
  scanned?: { dataset: Dataset; split: DatasetSplit; testSet: Dataset | null },
  outOfCore?: { readonly maxMemory: number | undefined; readonly needsMemory?: string | undefined }): Promise<EmbeddedSplit> {
  const onProgress = options.onProgress ?? (() => undefined);
  const { dataset, split, testSet } = scanned ?? await scanAndSplit(options);
  onProgress({ stage: 'info', status: 'message', message:
    `Dataset: ${dataset.items.length} images in ${dataset.classNames.length} classes (${dataset.classNames.join(', ')}); ` +
    `${split.description.trainCount} train / ${split.description.validationCount} validation (seed ${split.description.seed})` +
    (dataset.skipped.length > 0 ? `; ${dataset.skipped.length} files skipped` : '') });

  const backbone = await prepareBackbone(options.backbone, options);
  onProgress({ stage: 'info', status: 'message', message:
    `Backbone: ${backbone.resolved.id}, cut at "${backbone.cut.featureTensor}" → ${backbone.cut.embeddingDim}-d features` +
    `${backbone.cut.pooling !== 'none' ? ` (${backbone.cut.pooling} pooling)` : ''}${backbone.cut.dequantized ? ', dequantized' : ''}` });

  const memory = outOfCore === undefined ? null : planTrainingMemory(dataset.items.length, backbone.cut.embeddingDim, outOfCore.maxMemory);
  if (memory?.streamed && outOfCore?.needsMemory !== undefined)
    throw new FinetuneError('INVALID_OPTION', `${outOfCore.needsMemory} needs the training features in memory, but they take up to ` +
      `${memory.featureBytes} bytes, more than --max-memory ${memory.budgetBytes}.`,
      `Raise --max-memory above the feature size, or drop ${outOfCore.needsMemory}.`);
  const embedStarted = performance.now();
  if (options.shardCaches && options.shardCaches.length > 0) {
    const merged = mergeCaches(options.shardCaches, defaultCachePath(options.cacheDir ?? embeddingsDir(options.home)));
    onProgress({ stage: 'info', status: 'message', message:
      `Merged ${options.shardCaches.length} shard cache(s): ${merged.inserted} new vectors, ${merged.alreadyPresent} already present` });
  }
  const cache = EmbeddingCache.open({ cacheDir: options.cacheDir ?? embeddingsDir(options.home) });
  let extraction: ExtractionResult;
  let testExtraction: ExtractionResult | null = null;
  try {
    const embedOptions = {
      cache, device: options.device ?? 'auto', strict: options.strict ?? false, onProgress,
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    };
    extraction = await extractEmbeddings(dataset.items, backbone.extractor, { ...embedOptions, collectFeatures: !(memory?.streamed ?? false) });
    if (testSet) testExtraction = await extractEmbeddings(testSet.items, backbone.extractor, embedOptions);
  } finally {
    cache.close();
  }
  const embedSeconds = (performance.now() - embedStarted) / 1000;
  for (const failed of [...extraction.failed, ...(testExtraction?.failed ?? [])]) {
    onProgress({ stage: 'warn', status: 'message', message: `skipped ${failed.path}: ${failed.reason}` });
  }
  const skipped: SkippedFile[] = [
    ...dataset.skipped,
    ...extraction.failed.map((f) => ({ path: f.path, reason: f.reason })),
    ...(testSet?.skipped ?? []),
    ...(testExtraction?.failed.map((f) => ({ path: f.path, reason: f.reason })) ?? []),
  ];

  const validationIndexSet = new Set(split.validationIndices);
  const trainRows: number[] = [];
  const validationRows: number[] = [];
  extraction.okIndices.forEach((itemIndex, row) => (validationIndexSet.has(itemIndex) ? validationRows : trainRows).push(row));
  checkEveryClassPresent(dataset, extraction, trainRows, 'training');
  // Copied on first use; a run that streams its features from a file (out-of-core) has no vectors to copy.
  let train: LabelledFeatures | undefined;
  let validation: LabelledFeatures | null | undefined;
  const kept = (): void => {
    if (memory?.streamed) throw new TypeError('embedSplit: a streamed run kept no vectors; read them from the cache (writeStreamedSplit).');
  };
  return {
    dataset, split, testSet, backbone, extraction, testExtraction, trainRows, validationRows, memory,
    get train() { kept(); return (train ??= gatherRows(extraction, dataset, trainRows)); },
    get validation() { kept(); return (validation ??= validationRows.length > 0 ? gatherRows(extraction, dataset, validationRows) : null); },
    skipped, embedSeconds,
  };
}

/** Copies the chosen feature rows (and their labels) into one contiguous matrix. */
export function gatherRows(extraction: ExtractionResult, dataset: Dataset, rows: readonly number[]): LabelledFeatures {
  const { embeddingDim } = extraction;
  return { features: copyRows(extraction.features, embeddingDim, rows),
    labels: Int32Array.from(rows, (row) => dataset.items[extraction.okIndices[row]!]!.label), numSamples: rows.length, embeddingDim };
}

function checkEveryClassPresent(dataset: Dataset, extraction: ExtractionResult, rows: readonly number[], what: string): void {
  const seen = new Set(rows.map((row) => dataset.items[extraction.okIndices[row]!]!.label));
  const missing = dataset.classNames.filter((_, label) => !seen.has(label));
  if (missing.length > 0) {
    throw new FinetuneError('DATASET_INVALID',
      `No readable ${what} images left for class(es) ${missing.map((name) => `"${name}"`).join(', ')} after skipping unreadable files.`,
      'Add images to those class folders (see skipped.txt for the files that could not be read).');
  }
}
