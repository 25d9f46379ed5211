/** `finetune sweep`: train a grid of heads on the same cached features and rank them by a validation metric. */
import { sweep } from '../train/sweep.js';
import type { SweepGrid, SweepOptions, SweepResult } from '../train/sweep.js';
import { embedSplit } from './embed-split.js';
import type { EmbedSplitOptions } from './embed-split.js';

export interface RunSweepOptions extends EmbedSplitOptions {
  grid: SweepGrid;
  /** Shared trainer options for every config (the grid overrides its own fields). */
  train?: Omit<SweepOptions, 'numClasses' | 'classNames' | 'onProgress'>;
}

export interface RunSweepResult {
  readonly results: readonly SweepResult[];
  readonly best: SweepResult;
  readonly cache: { hits: number; computed: number };
  readonly embedSeconds: number;
  readonly sweepSeconds: number;
}

export async function runSweep(options: RunSweepOptions): Promise<RunSweepResult> {
  const embedded = await embedSplit(options);
  const started = performance.now();
  const results = await sweep(embedded.train, embedded.validation, options.grid, {
    seed: options.seed ?? 42, ...options.train, numClasses: embedded.dataset.classNames.length,
    classNames: embedded.dataset.classNames, ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  return {
    results, best: results[0]!,
    cache: { hits: embedded.extraction.cacheHits, computed: embedded.extraction.computed },
    embedSeconds: embedded.embedSeconds, sweepSeconds: (performance.now() - started) / 1000,
  };
}
