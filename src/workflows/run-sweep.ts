/**
 * `finetune sweep`: train a grid of heads on the same cached features and rank them by the cross-validated loss (or,
 * with `folds: 1`, a validation metric).
 */
import { FinetuneError } from '../errors.js';
import { sweep } from '../train/sweep.js';
import type { SweepGrid, SweepOptions, SweepResult } from '../train/sweep.js';
import { embedSplit } from './embed-split.js';
import type { EmbedSplitOptions } from './embed-split.js';

export interface RunSweepOptions extends EmbedSplitOptions {
  grid: SweepGrid;
  /**
   * Cross-fit every config in K folds and rank by the out-of-fold loss; `1` ranks on a validation split
   * (`validationSplit`, accepted only with `folds: 1`). @defaultValue `5`
   */
  folds?: number;
  /** Shared trainer options for every config (the grid overrides its own fields). */
  train?: Omit<SweepOptions, 'numClasses' | 'classNames' | 'onProgress' | 'folds'>;
}

export interface RunSweepResult {
  readonly results: readonly SweepResult[];
  readonly best: SweepResult;
  readonly cache: { hits: number; computed: number };
  readonly embedSeconds: number;
  readonly sweepSeconds: number;
}

export async function runSweep(options: RunSweepOptions): Promise<RunSweepResult> {
  const folds = options.folds ?? 5;
  if (folds > 1 && options.validationSplit !== undefined)
    throw new FinetuneError('INVALID_OPTION', `--validation-split ${options.validationSplit} holds images out, but --folds ${folds} ranks on every ` +
      'labelled image (each is held out once).', 'Drop --validation-split to cross-fit, or add --folds 1 to rank on a validation split.');
  const embedded = await embedSplit({ ...options, validationSplit: folds > 1 ? 0 : options.validationSplit ?? 0.2 });
  const started = performance.now();
  const results = await sweep(embedded.train, embedded.validation, options.grid, {
    seed: options.seed ?? 42, ...options.train, folds, numClasses: embedded.dataset.classNames.length,
    classNames: embedded.dataset.classNames, ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  return {
    results, best: results[0]!,
    cache: { hits: embedded.extraction.cacheHits, computed: embedded.extraction.computed },
    embedSeconds: embedded.embedSeconds, sweepSeconds: (performance.now() - started) / 1000,
  };
}
