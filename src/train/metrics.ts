/**
 * Classification metrics shared by training, sweeps, the run folder (metrics.json) and `finetune evaluate`, and the
 * evaluation types they all use: one definition each, below every stage that reports them.
 */

/** Index of the largest value in row `row` of a [rows × numClasses] matrix (the first one on ties, like numpy argmax). */
export function argmaxRow(scores: ArrayLike<number>, row: number, numClasses: number): number {
  const offset = row * numClasses;
  let best = 0;
  for (let k = 1; k < numClasses; k++) if (scores[offset + k]! > scores[offset + best]!) best = k;
  return best;
}

/** {@link argmaxRow} of every row. */
export function argmaxRows(scores: Float32Array, numClasses: number): Int32Array {
  const rows = scores.length / numClasses;
  if (!Number.isInteger(rows)) throw new RangeError(`argmaxRows: scores.length (${scores.length}) is not a multiple of numClasses (${numClasses}).`);
  const result = new Int32Array(rows);
  for (let row = 0; row < rows; row++) result[row] = argmaxRow(scores, row, numClasses);
  return result;
}

function checkSameLength(name: string, trueLabels: ArrayLike<number>, predictedLabels: ArrayLike<number>): void {
  if (trueLabels.length !== predictedLabels.length)
    throw new RangeError(`${name}: trueLabels has ${trueLabels.length} entries, predictedLabels ${predictedLabels.length}.`);
}

/** Fraction of labels predicted correctly; 0 for no samples. */
export function accuracy(trueLabels: ArrayLike<number>, predictedLabels: ArrayLike<number>): number {
  checkSameLength('accuracy', trueLabels, predictedLabels);
  let correct = 0;
  for (let i = 0; i < trueLabels.length; i++) if (trueLabels[i] === predictedLabels[i]) correct++;
  return trueLabels.length === 0 ? 0 : correct / trueLabels.length;
}

/** `matrix[trueClass][predictedClass]` = count (rows are true classes, as in scikit-learn). Dense: classes² numbers. */
export function confusionMatrix(trueLabels: ArrayLike<number>, predictedLabels: ArrayLike<number>, numClasses: number): number[][] {
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  forEachPair('confusionMatrix', trueLabels, predictedLabels, numClasses, (actual, predicted) => { matrix[actual]![predicted]!++; });
  return matrix;
}

function forEachPair(name: string, trueLabels: ArrayLike<number>, predictedLabels: ArrayLike<number>, numClasses: number,
  visit: (actual: number, predicted: number) => void): void {
  checkSameLength(name, trueLabels, predictedLabels);
  for (let i = 0; i < trueLabels.length; i++) {
    const actual = trueLabels[i]!, predicted = predictedLabels[i]!;
    if (!(actual >= 0 && actual < numClasses && predicted >= 0 && predicted < numClasses && Number.isInteger(actual) && Number.isInteger(predicted)))
      throw new RangeError(`${name}: sample ${i} has label ${actual} / prediction ${predicted}, outside 0..${numClasses - 1}.`);
    visit(actual, predicted);
  }
}

/**
 * Above this many classes a confusion matrix is kept sparse: its dense form has classes² cells (10⁸ at 10,000
 * classes, more than a JSON string can hold), while a sparse one has at most one cell per image.
 */
export const DENSE_CONFUSION_MAX_CLASSES = 100;

/** The non-zero cells of a confusion matrix, as metrics.json and `evaluate --json` store it above 100 classes. */
export interface SparseConfusionMatrix {
  readonly encoding: 'sparse';
  readonly numClasses: number;
  /** `[trueClass, predictedClass, count]` for every non-zero cell, by true class, then predicted class. */
  readonly cells: ReadonlyArray<readonly [number, number, number]>;
}

/**
 * Rows are true classes, columns predicted classes: dense (`matrix[true][predicted]`) for up to
 * {@link DENSE_CONFUSION_MAX_CLASSES} classes, {@link SparseConfusionMatrix} above.
 */
export type ConfusionMatrix = readonly (readonly number[])[] | SparseConfusionMatrix;

export interface CountConfusionsOptions {
  /** Largest class count kept dense. @defaultValue {@link DENSE_CONFUSION_MAX_CLASSES} */
  denseMaxClasses?: number;
}

/** The confusion matrix of `trueLabels` vs `predictedLabels`, dense or sparse by class count (see {@link ConfusionMatrix}). */
export function countConfusions(trueLabels: ArrayLike<number>, predictedLabels: ArrayLike<number>, numClasses: number,
  options: CountConfusionsOptions = {}): ConfusionMatrix {
  if (numClasses <= (options.denseMaxClasses ?? DENSE_CONFUSION_MAX_CLASSES)) return confusionMatrix(trueLabels, predictedLabels, numClasses);
  const counts = new Map<number, number>();   // key trueClass · numClasses + predictedClass
  forEachPair('countConfusions', trueLabels, predictedLabels, numClasses, (actual, predicted) => {
    const key = actual * numClasses + predicted;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  });
  const keys = [...counts.keys()].sort((a, b) => a - b);
  return {
    encoding: 'sparse', numClasses,
    cells: keys.map((key) => [Math.floor(key / numClasses), key % numClasses, counts.get(key)!] as const),
  };
}

export function isSparseConfusion(matrix: ConfusionMatrix): matrix is SparseConfusionMatrix {
  return !Array.isArray(matrix);
}

/** Number of classes (rows) of a confusion matrix. */
export function confusionNumClasses(matrix: ConfusionMatrix): number {
  return isSparseConfusion(matrix) ? matrix.numClasses : matrix.length;
}

/** Calls `visit` for every non-zero cell, by true class, then predicted class. */
export function forEachConfusionCell(matrix: ConfusionMatrix, visit: (trueClass: number, predictedClass: number, count: number) => void): void {
  if (isSparseConfusion(matrix)) {
    for (const [actual, predicted, count] of matrix.cells) visit(actual, predicted, count);
    return;
  }
  matrix.forEach((row, actual) => row.forEach((count, predicted) => { if (count !== 0) visit(actual, predicted, count); }));
}

/** The dense form, `matrix[true][predicted]`; classes² numbers, so only for small matrices (heatmaps, tables). */
export function denseConfusion(matrix: ConfusionMatrix): number[][] {
  if (!isSparseConfusion(matrix)) return matrix.map((row) => [...row]);
  const dense = Array.from({ length: matrix.numClasses }, () => new Array<number>(matrix.numClasses).fill(0));
  for (const [actual, predicted, count] of matrix.cells) dense[actual]![predicted] = count;
  return dense;
}

/** One class's row of a classification report (metrics.json `perClass`, `finetune evaluate`). Its index is its position. */
export interface ClassMetrics {
  readonly className: string;
  /** TP / (TP + FP); 0 when the class was never predicted (scikit-learn's zero_division=0). */
  readonly precision: number;
  /** TP / (TP + FN); 0 when the class has no samples. */
  readonly recall: number;
  readonly f1: number;
  /** Number of samples whose true class this is. */
  readonly support: number;
}

export interface AveragedMetrics {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
}

export interface ClassificationReport {
  readonly accuracy: number;
  readonly numSamples: number;
  readonly perClass: readonly ClassMetrics[];
  /** Unweighted mean over classes. */
  readonly macro: AveragedMetrics;
  /** Mean over classes weighted by support. */
  readonly weighted: AveragedMetrics;
}

/** Per-class precision/recall/F1 plus macro and support-weighted averages, from a confusion matrix (dense or sparse). */
export function classificationReport(matrix: ConfusionMatrix, classNames?: readonly string[]): ClassificationReport {
  const numClasses = confusionNumClasses(matrix);
  let total = 0, correct = 0;
  const predictedCounts = new Float64Array(numClasses), supports = new Float64Array(numClasses), truePositives = new Float64Array(numClasses);
  forEachConfusionCell(matrix, (actual, predicted, count) => {
    total += count;
    predictedCounts[predicted]! += count;
    supports[actual]! += count;
    if (actual === predicted) { correct += count; truePositives[actual] = count; }
  });
  const perClass: ClassMetrics[] = [];
  const macro = { precision: 0, recall: 0, f1: 0 }, weighted = { precision: 0, recall: 0, f1: 0 };
  for (let k = 0; k < numClasses; k++) {
    const support = supports[k]!, predictedCount = predictedCounts[k]!;
    const precision = predictedCount === 0 ? 0 : truePositives[k]! / predictedCount;
    const recall = support === 0 ? 0 : truePositives[k]! / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    perClass.push({ className: classNames?.[k] ?? String(k), precision, recall, f1, support });
    macro.precision += precision / numClasses; macro.recall += recall / numClasses; macro.f1 += f1 / numClasses;
    if (total > 0) {
      weighted.precision += (precision * support) / total; weighted.recall += (recall * support) / total;
      weighted.f1 += (f1 * support) / total;
    }
  }
  return { accuracy: total === 0 ? 0 : correct / total, numSamples: total, perClass, macro, weighted };
}

/** A misclassified image (metrics.json `mostConfidentlyWrong`, `finetune evaluate`). */
export interface WrongPrediction {
  readonly path: string;
  readonly trueClass: string;
  readonly predictedClass: string;
  /** Probability the model gave `predictedClass`. */
  readonly probability: number;
}

/** How a classifier did on one labelled set: metrics.json `validation`/`test`, and the core of `finetune evaluate`. */
export interface EvaluationMetrics {
  readonly accuracy: number;
  /** Images evaluated. */
  readonly n: number;
  readonly perClass: readonly ClassMetrics[];
  /** Rows are true classes, columns predicted, in class-index order; sparse above 100 classes. */
  readonly confusionMatrix: ConfusionMatrix;
  /** Wrong predictions, most confident first (ties by path). */
  readonly mostConfidentlyWrong: readonly WrongPrediction[];
}

export interface EvaluateProbabilitiesOptions {
  /** How many of the most confidently wrong images to list. @defaultValue `10` */
  mostConfidentlyWrong?: number;
}

/**
 * Accuracy, per-class P/R/F1, the confusion matrix and the most confidently wrong images of `probabilities`
 * [labels.length × classNames.length] against `labels`; `paths[row]` names row `row`'s image.
 */
export function evaluateProbabilities(probabilities: Float32Array, labels: ArrayLike<number>, paths: readonly string[],
  classNames: readonly string[], options: EvaluateProbabilitiesOptions = {}): EvaluationMetrics {
  const numClasses = classNames.length;
  const listed = options.mostConfidentlyWrong ?? 10;
  if (!Number.isInteger(listed) || listed < 0)
    throw new RangeError(`evaluateProbabilities: 'mostConfidentlyWrong' must be a non-negative integer, got ${listed}.`);
  if (probabilities.length !== labels.length * numClasses || paths.length !== labels.length)
    throw new RangeError(`evaluateProbabilities: ${probabilities.length} probabilities and ${paths.length} paths for ` +
      `${labels.length} labels × ${numClasses} classes.`);
  const predicted = argmaxRows(probabilities, numClasses);
  const matrix = countConfusions(labels, predicted, numClasses);
  const report = classificationReport(matrix, classNames);
  const wrong: WrongPrediction[] = [];
  for (let row = 0; row < labels.length; row++) {
    const guess = predicted[row]!;
    if (guess === labels[row]) continue;
    wrong.push({ path: paths[row]!, trueClass: classNames[labels[row]!]!, predictedClass: classNames[guess]!,
      probability: probabilities[row * numClasses + guess]! });
  }
  wrong.sort((a, b) => b.probability - a.probability || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    accuracy: report.accuracy, n: labels.length, perClass: report.perClass,
    confusionMatrix: matrix, mostConfidentlyWrong: wrong.slice(0, listed),
  };
}

/**
 * The Wilson score interval of a proportion `successes / trials` (Wilson 1927): at 95 % (z = 1.96) it keeps close to
 * its nominal coverage for small samples and proportions near 0 or 1, where the normal interval fails. [0, 1] when
 * there are no trials.
 */
export function wilsonInterval(successes: number, trials: number, z = 1.959963984540054): readonly [number, number] {
  if (!(trials > 0)) return [0, 1];
  if (!(successes >= 0 && successes <= trials)) throw new RangeError(`wilsonInterval: ${successes} successes out of ${trials} trials.`);
  const proportion = successes / trials, z2 = z * z;
  const denominator = 1 + z2 / trials;
  const centre = (proportion + z2 / (2 * trials)) / denominator;
  const halfWidth = (z / denominator) * Math.sqrt((proportion * (1 - proportion)) / trials + z2 / (4 * trials * trials));
  return [Math.max(0, centre - halfWidth), Math.min(1, centre + halfWidth)];
}
