/**
 * Stratified, seeded K-fold assignment for cross-fitting: every class is spread over the folds as evenly as its size
 * allows (as scikit-learn's StratifiedKFold does), in an order drawn from the seed, so the same labels and seed give
 * the same folds.
 */
import { deriveSeed, Rng } from '../util/rng.js';

/** Purpose tag for deriveSeed: the fold assignment's own stream. */
const FOLD_STREAM = 11;

/**
 * `foldOf[row]` in [0, folds) for each row of `labels`. Within a class the rows are shuffled (seeded) and dealt out
 * round-robin; each class starts where the previous one stopped, so fold sizes differ by at most one overall.
 * @throws RangeError when `folds` is not an integer in [2, labels.length].
 */
export function stratifiedFolds(labels: ArrayLike<number>, numClasses: number, folds: number, seed: number): Int32Array {
  if (!Number.isInteger(folds) || folds < 2 || folds > labels.length)
    throw new RangeError(`stratifiedFolds: 'folds' must be an integer in [2, ${labels.length}] (one image per fold at least), got ${folds}.`);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let row = 0; row < labels.length; row++) {
    const label = labels[row]!;
    if (!(Number.isInteger(label) && label >= 0 && label < numClasses))
      throw new RangeError(`stratifiedFolds: label ${label} of row ${row} is outside 0..${numClasses - 1}.`);
    byClass[label]!.push(row);
  }
  const rng = new Rng(deriveSeed(seed, FOLD_STREAM));
  const foldOf = new Int32Array(labels.length);
  let next = 0;
  for (const rows of byClass) {
    const order = Int32Array.from(rows);
    rng.shuffle(order);
    for (const row of order) {
      foldOf[row] = next;
      next = (next + 1) % folds;
    }
  }
  return foldOf;
}

/** Per fold, how many rows of each class it holds out: `counts[fold][class]`. */
export function foldClassCounts(foldOf: Int32Array, labels: ArrayLike<number>, folds: number, numClasses: number): number[][] {
  const counts = Array.from({ length: folds }, () => new Array<number>(numClasses).fill(0));
  for (let row = 0; row < foldOf.length; row++) counts[foldOf[row]!]![labels[row]!]!++;
  return counts;
}
