/** Classification metrics shared by training, sweeps and `finetune evaluate`. */

/** Index of the largest value in each row (the first one on ties, like numpy argmax). */
export function argmaxRows(scores: Float32Array, numClasses: number): Int32Array {
  const rows = scores.length / numClasses;
  if (!Number.isInteger(rows)) throw new RangeError(`argmaxRows: scores.length (${scores.length}) is not a multiple of numClasses (${numClasses}).`);
  const result = new Int32Array(rows);
  for (let row = 0; row < rows; row++) {
    const offset = row * numClasses;
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (scores[offset + k]! > scores[offset + best]!) best = k;
    result[row] = best;
  }
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

/** `matrix[trueClass][predictedClass]` = count (rows are true classes, as in scikit-learn). */
export function confusionMatrix(trueLabels: ArrayLike<number>, predictedLabels: ArrayLike<number>, numClasses: number): number[][] {
  checkSameLength('confusionMatrix', trueLabels, predictedLabels);
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < trueLabels.length; i++) {
    const actual = trueLabels[i]!, predicted = predictedLabels[i]!;
    if (!(actual >= 0 && actual < numClasses && predicted >= 0 && predicted < numClasses && Number.isInteger(actual) && Number.isInteger(predicted)))
      throw new RangeError(`confusionMatrix: sample ${i} has label ${actual} / prediction ${predicted}, outside 0..${numClasses - 1}.`);
    matrix[actual]![predicted]!++;
  }
  return matrix;
}

export interface ClassMetrics {
  readonly classIndex: number;
  readonly name: string;
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

/** Per-class precision/recall/F1 plus macro and support-weighted averages, from a confusion matrix. */
export function classificationReport(matrix: readonly (readonly number[])[], classNames?: readonly string[]): ClassificationReport {
  const numClasses = matrix.length;
  let total = 0, correct = 0;
  const predictedCounts = new Array<number>(numClasses).fill(0);
  for (let actual = 0; actual < numClasses; actual++)
    for (let predicted = 0; predicted < numClasses; predicted++) {
      const count = matrix[actual]![predicted]!;
      total += count;
      predictedCounts[predicted]! += count;
      if (actual === predicted) correct += count;
    }
  const perClass: ClassMetrics[] = [];
  const macro = { precision: 0, recall: 0, f1: 0 }, weighted = { precision: 0, recall: 0, f1: 0 };
  for (let k = 0; k < numClasses; k++) {
    const truePositives = matrix[k]![k]!;
    let support = 0;
    for (const count of matrix[k]!) support += count;
    const precision = predictedCounts[k]! === 0 ? 0 : truePositives / predictedCounts[k]!;
    const recall = support === 0 ? 0 : truePositives / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    perClass.push({ classIndex: k, name: classNames?.[k] ?? String(k), precision, recall, f1, support });
    macro.precision += precision / numClasses; macro.recall += recall / numClasses; macro.f1 += f1 / numClasses;
    if (total > 0) {
      weighted.precision += (precision * support) / total; weighted.recall += (recall * support) / total;
      weighted.f1 += (f1 * support) / total;
    }
  }
  return { accuracy: total === 0 ? 0 : correct / total, numSamples: total, perClass, macro, weighted };
}
