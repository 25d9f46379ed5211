/**
 * Out-of-core training in a run (`--max-memory`): when the training features of a run (its labelled images ×
 * embeddingDim × 4 bytes; planned before extraction on the dataset's image count, so extraction keeps no vectors,
 * see embedSplit) exceed the memory budget, the run writes their cached vectors once to a flat feature file
 * (float32 .npy, streamed from the embedding cache in chunks) in a temporary folder of the run folder, trains on it
 * a window at a time (train/streamed-features.ts: the budget holds the two window buffers) and deletes the folder
 * when training ends. Below the budget nothing changes: features stay in memory.
 *
 * The effect of streaming on training is the window shuffle: a mini-batch mixes rows of one window (half the
 * budget) drawn from blocks all over the file, instead of rows from the whole split.
 */
import { rm } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { EmbeddingCache } from '../embed/embedding-cache.js';
import { exportNpy } from '../embed/export-npy.js';
import type { ExportRow } from '../embed/export-npy.js';
import { FinetuneError } from '../errors.js';
import { openFeatureFile } from '../train/feature-file.js';
import type { FeatureFile } from '../train/feature-file.js';
import { streamedFeatures } from '../train/streamed-features.js';
import type { StreamedFeatures } from '../train/training-data.js';
import type { ProgressCallback } from '../types.js';
import { formatBytes } from '../util/format.js';

/** The default budget is this fraction of the machine's memory… */
export const DEFAULT_MEMORY_FRACTION = 1 / 8;
/** …and at most this: the in-memory path holds several copies of the features (extraction, split, folds). */
export const MAX_DEFAULT_MEMORY_BYTES = 2 * 2 ** 30;
/** Rows per block when the budget is large; smaller budgets use smaller blocks (a window spans ≥ 16 blocks). */
const MAX_BLOCK_ROWS = 1024;
const MIN_BLOCKS_PER_WINDOW = 16;

/** ⅛ of `totalBytes` (the machine's memory), at most 2 GiB. */
export function defaultMemoryBudget(totalBytes: number = totalmem()): number {
  return Math.min(MAX_DEFAULT_MEMORY_BYTES, Math.floor(totalBytes * DEFAULT_MEMORY_FRACTION));
}

export interface TrainingMemoryPlan {
  /** The budget in bytes (`maxMemoryBytes`, else {@link defaultMemoryBudget}). */
  readonly budgetBytes: number;
  /** embeddingDim × 4. */
  readonly rowBytes: number;
  /** rows × embeddingDim × 4. */
  readonly featureBytes: number;
  /** True when the features exceed the budget: train from a feature file. */
  readonly streamed: boolean;
  /** Rows per block of the window shuffle (streamed only; 0 otherwise). */
  readonly blockRows: number;
  /** Rows a window holds (streamed only; 0 otherwise). */
  readonly windowRows: number;
}

/**
 * Fails when `maxMemoryBytes` (--max-memory) is given but is not a positive whole number of bytes: what a run checks
 * before any backbone work (whether the budget holds a row of each window buffer needs the embedding size, so
 * planTrainingMemory checks that later).
 */
export function checkMaxMemory(maxMemoryBytes: number | undefined): void {
  if (maxMemoryBytes !== undefined && !(Number.isSafeInteger(maxMemoryBytes) && maxMemoryBytes >= 1))
    throw new FinetuneError('INVALID_OPTION', `Invalid --max-memory ${JSON.stringify(maxMemoryBytes)}: expected a positive number of bytes.`,
      'Pass a size such as --max-memory 4GiB or --max-memory 512MiB, or leave it out for the default.');
}

/**
 * Whether `numRows` features of `embeddingDim` floats fit in the budget, and if not, the window plan. Fails before
 * any work when `maxMemoryBytes` is not a positive whole number, or cannot hold one row in each window buffer.
 */
export function planTrainingMemory(numRows: number, embeddingDim: number, maxMemoryBytes?: number): TrainingMemoryPlan {
  checkMaxMemory(maxMemoryBytes);
  const budgetBytes = maxMemoryBytes ?? defaultMemoryBudget();
  const rowBytes = embeddingDim * 4;
  const featureBytes = numRows * rowBytes;
  if (featureBytes <= budgetBytes) return { budgetBytes, rowBytes, featureBytes, streamed: false, blockRows: 0, windowRows: 0 };
  const windowRows = Math.floor(budgetBytes / 2 / rowBytes);
  if (windowRows < 1)
    throw new FinetuneError('INVALID_OPTION', `--max-memory ${budgetBytes} bytes cannot hold the two window buffers of out-of-core ` +
      `training: each needs at least one row of ${embeddingDim} floats (${rowBytes} bytes); the features take ${formatBytes(featureBytes)}.`,
      `Raise --max-memory to at least ${2 * rowBytes} bytes (a few hundred MiB reads efficiently, e.g. --max-memory 512MiB).`);
  const blockRows = Math.min(MAX_BLOCK_ROWS, Math.max(1, Math.floor(windowRows / MIN_BLOCKS_PER_WINDOW)));
  return { budgetBytes, rowBytes, featureBytes, streamed: true, blockRows, windowRows: Math.floor(windowRows / blockRows) * blockRows };
}

/** One labelled image of the run, in the order the feature file is written. */
export interface FeatureRow {
  readonly imageSha: string;
  readonly label: number;
  /** Its name (the dataset-relative path), written to files.txt beside the features. */
  readonly file: string;
}

export interface StreamedSplit {
  readonly file: FeatureFile;
  readonly train: StreamedFeatures;
  readonly validation: StreamedFeatures | null;
  /** The trainer options of the plan: fit and cross-fitting read windows within them. */
  readonly fitOptions: { readonly memoryBudgetBytes: number; readonly blockRows: number };
  /** Closes the file and deletes its folder. */
  close(): Promise<void>;
}

/** Folder of the run folder that holds the feature file while the head trains. */
export const STREAMED_FEATURES_DIR = '.features';

/**
 * Writes the cached vectors of `rows` (every labelled image of the run, in order) to `<runDir>/.features/` and
 * opens the train and validation splits over it (`trainRows` / `validationRows`: ascending positions in `rows`).
 * The vectors are read from the cache `cacheDir` for extractor `extractorKey` in chunks, never all at once.
 * @throws FinetuneError CACHE_CORRUPT when a vector the extraction just served is not in the cache.
 */
export async function writeStreamedSplit(options: {
  readonly runDir: string; readonly cacheDir: string; readonly extractorKey: string; readonly rows: readonly FeatureRow[];
  readonly trainRows: readonly number[]; readonly validationRows: readonly number[]; readonly plan: TrainingMemoryPlan;
  readonly onProgress?: ProgressCallback | undefined;
}): Promise<StreamedSplit> {
  const { runDir, rows, plan } = options;
  const dir = join(runDir, STREAMED_FEATURES_DIR);
  const onProgress = options.onProgress ?? (() => undefined);
  onProgress({ stage: 'info', status: 'message', message: `Training features (${plan.featureBytes / plan.rowBytes} × ${formatBytes(plan.rowBytes)}` +
    ` = ${formatBytes(plan.featureBytes)}) exceed --max-memory ${formatBytes(plan.budgetBytes)}: streaming them from a feature file ` +
    `(windows of ${plan.windowRows} rows in blocks of ${plan.blockRows}; mini-batches are shuffled within a window)` });
  const cache = EmbeddingCache.open({ cacheDir: options.cacheDir, readonly: true });
  let exported;
  try {
    exported = await exportNpy(cache, options.extractorKey, rows satisfies readonly ExportRow[], dir);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  } finally {
    cache.close();
  }
  if (exported.missing.length > 0) {
    await rm(dir, { recursive: true, force: true });
    throw new FinetuneError('CACHE_CORRUPT', `${exported.missing.length} vector(s) of this run are not in the embedding cache ` +
      `"${options.cacheDir}" (first: "${exported.missing[0]}"); was it pruned while the run embedded?`,
      'Run the command again: the missing vectors are computed and cached again.');
  }
  const file = await openFeatureFile(exported.featuresPath);
  const labels = Int32Array.from(rows, (row) => row.label);
  const close = async (): Promise<void> => {
    await file.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    return {
      file,
      train: streamedFeatures(file, labels, Int32Array.from(options.trainRows)),
      validation: options.validationRows.length > 0 ? streamedFeatures(file, labels, Int32Array.from(options.validationRows)) : null,
      fitOptions: { memoryBudgetBytes: plan.budgetBytes, blockRows: plan.blockRows },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
