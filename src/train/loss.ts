/**
 * Softmax cross-entropy on logits, computed stably (log-sum-exp with the row max subtracted), with Keras's
 * label smoothing (`y = onehot·(1 − s) + s / numClasses`) and per-class weights (Keras `class_weight`: each
 * row's loss is multiplied by the weight of its label, and the batch loss is still divided by the row count,
 * Keras's `sum_over_batch_size` reduction).
 */

export interface CrossEntropyBatch {
  /** Σ over rows of classWeight[label] · loss(row). Divide by the row count for Keras's batch loss. */
  readonly weightedLossSum: number;
  /** Rows whose argmax (first maximum) equals the label. */
  readonly correct: number;
}

/**
 * Hot-path form: rows of `logits` start at `logitsOffset`. When `gradient` is given, writes
 * `gradientScale · classWeight[label] · (softmax(z) − y)` for every row at `gradientOffset`
 * (gradient may alias logits: each row is read completely before it is written).
 */
export function softmaxCrossEntropyRows(
  logits: Float32Array, logitsOffset: number, labels: ArrayLike<number>, rows: number, numClasses: number,
  labelSmoothing: number, classWeights: Float32Array | null,
  gradient: Float32Array | null, gradientOffset: number, gradientScale: number,
): CrossEntropyBatch {
  const offValue = labelSmoothing / numClasses;
  const onValue = 1 - labelSmoothing + offValue;
  let weightedLossSum = 0;
  let correct = 0;
  for (let row = 0; row < rows; row++) {
    const base = logitsOffset + row * numClasses;
    const label = labels[row]!;
    let max = -Infinity, argmax = 0;
    for (let k = 0; k < numClasses; k++) {
      const z = logits[base + k]!;
      if (z > max) { max = z; argmax = k; }
    }
    if (Number.isNaN(logits[base]!) || max === Infinity) max = NaN; // propagate to the loss: the divergence guard sees it
    let sumExp = 0, targetDotLogit = 0;
    for (let k = 0; k < numClasses; k++) {
      const z = logits[base + k]!;
      sumExp += Math.exp(z - max);
      targetDotLogit += (k === label ? onValue : offValue) * z;
    }
    const logSumExp = max + Math.log(sumExp);
    const weight = classWeights === null ? 1 : classWeights[label]!;
    weightedLossSum += weight * (logSumExp - targetDotLogit); // −Σ y·log p = logΣexp(z) − Σ y·z, since Σ y = 1
    if (argmax === label) correct++;
    if (gradient !== null) {
      const gradBase = gradientOffset + row * numClasses;
      const scale = gradientScale * weight, invSum = 1 / sumExp;
      for (let k = 0; k < numClasses; k++) {
        const p = Math.exp(logits[base + k]! - max) * invSum;
        gradient[gradBase + k] = scale * (p - (k === label ? onValue : offValue));
      }
    }
  }
  return { weightedLossSum, correct };
}

export interface CrossEntropyOptions {
  /** @defaultValue `0` */
  labelSmoothing?: number;
  /** Weight per class index; `null` weighs every class 1. @defaultValue `null` */
  classWeights?: Float32Array | null;
}

/** Convenience form: mean loss over the rows and d(mean loss)/d(logits). */
export function softmaxCrossEntropy(
  logits: Float32Array, labels: ArrayLike<number>, numClasses: number, options: CrossEntropyOptions = {},
): { loss: number; accuracy: number; gradient: Float32Array } {
  const rows = logits.length / numClasses;
  if (!Number.isInteger(rows) || rows !== labels.length)
    throw new RangeError(`softmaxCrossEntropy: logits.length (${logits.length}) must be labels.length (${labels.length}) × numClasses (${numClasses}).`);
  const gradient = new Float32Array(logits.length);
  const { weightedLossSum, correct } = softmaxCrossEntropyRows(logits, 0, labels, rows, numClasses,
    options.labelSmoothing ?? 0, options.classWeights ?? null, gradient, 0, 1 / rows);
  return { loss: weightedLossSum / rows, accuracy: correct / rows, gradient };
}

/** Softmax of each row in place: subtract the row max, exponentiate and sum, multiply by 1/sum. */
export function softmaxRows(logits: Float32Array, numClasses: number): Float32Array {
  for (let base = 0; base < logits.length; base += numClasses) {
    let max = -Infinity;
    for (let k = 0; k < numClasses; k++) if (logits[base + k]! > max) max = logits[base + k]!;
    let sum = 0;
    for (let k = 0; k < numClasses; k++) sum += logits[base + k] = Math.exp(logits[base + k]! - max);
    const invSum = 1 / sum;
    for (let k = 0; k < numClasses; k++) logits[base + k] = logits[base + k]! * invSum;
  }
  return logits;
}
