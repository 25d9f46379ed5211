/**
 * Probability calibration: temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks": one
 * scalar T, softmax(z / T), fitted by minimising the negative log-likelihood on held-out logits) and the expected
 * calibration error with equal-width confidence bins, plus the bins themselves for a reliability diagram.
 */

/** Softmax of each row of `logits` [rows × numClasses] divided by `temperature`, in float64, rounded once. */
export function softmaxWithTemperature(logits: Float32Array, numClasses: number, temperature = 1): Float32Array {
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new RangeError(`softmaxWithTemperature: temperature must be > 0, got ${temperature}.`);
  const rows = logits.length / numClasses;
  const probabilities = new Float32Array(logits.length);
  const scaled = new Float64Array(numClasses);
  const inverse = 1 / temperature;
  for (let row = 0; row < rows; row++) {
    const offset = row * numClasses;
    let max = -Infinity;
    for (let k = 0; k < numClasses; k++) max = Math.max(max, (scaled[k] = logits[offset + k]! * inverse));
    let sum = 0;
    for (let k = 0; k < numClasses; k++) sum += scaled[k] = Math.exp(scaled[k]! - max);
    for (let k = 0; k < numClasses; k++) probabilities[offset + k] = scaled[k]! / sum;
  }
  return probabilities;
}

/** Mean negative log-likelihood of `labels` under softmax(logits · beta), with its first two derivatives in beta. */
function nllAndDerivatives(logits: Float32Array, labels: ArrayLike<number>, numClasses: number, beta: number): [number, number, number] {
  let nll = 0, gradient = 0, curvature = 0;
  const rows = labels.length;
  for (let row = 0; row < rows; row++) {
    const offset = row * numClasses;
    let max = -Infinity;
    for (let k = 0; k < numClasses; k++) max = Math.max(max, beta * logits[offset + k]!);
    let sum = 0, mean = 0, square = 0;
    for (let k = 0; k < numClasses; k++) {
      const z = logits[offset + k]!, weight = Math.exp(beta * z - max);
      sum += weight; mean += weight * z; square += weight * z * z;
    }
    mean /= sum; square /= sum;
    const trueLogit = logits[offset + labels[row]!]!;
    nll += Math.log(sum) + max - beta * trueLogit;
    gradient += mean - trueLogit;
    curvature += Math.max(0, square - mean * mean);
  }
  return [nll / rows, gradient / rows, curvature / rows];
}

export interface TemperatureFit {
  /** T > 0; probabilities are softmax(logits / T). 1 when there is nothing to fit. */
  readonly temperature: number;
  readonly nllBefore: number;
  readonly nllAfter: number;
}

/**
 * The temperature that minimises the mean NLL of `labels` under softmax(logits / T). The NLL is convex in 1/T, so
 * a safeguarded Newton iteration on 1/T (bisection when a step leaves the bracket) finds the optimum to 1e-10.
 * 1/T is kept in [1e-3, 1e3].
 */
export function fitTemperature(logits: Float32Array, labels: ArrayLike<number>, numClasses: number): TemperatureFit {
  if (logits.length !== labels.length * numClasses)
    throw new RangeError(`fitTemperature: ${logits.length} logits for ${labels.length} labels × ${numClasses} classes.`);
  if (labels.length === 0) return { temperature: 1, nllBefore: Number.NaN, nllAfter: Number.NaN };
  const nllBefore = nllAndDerivatives(logits, labels, numClasses, 1)[0];
  let low = 1e-3, high = 1e3, beta = 1;
  for (let iteration = 0; iteration < 100; iteration++) {
    const [, gradient, curvature] = nllAndDerivatives(logits, labels, numClasses, beta);
    if (Math.abs(gradient) < 1e-10) break;
    if (gradient > 0) high = beta; else low = beta;
    let next = curvature > 0 ? beta - gradient / curvature : Number.NaN;
    if (!(next > low && next < high)) next = (low + high) / 2;
    if (Math.abs(next - beta) < 1e-12 * beta) { beta = next; break; }
    beta = next;
  }
  const nllAfter = nllAndDerivatives(logits, labels, numClasses, beta)[0];
  // Never worse than no scaling (e.g. all predictions right and the optimum at the bound).
  return nllAfter <= nllBefore ? { temperature: 1 / beta, nllBefore, nllAfter } : { temperature: 1, nllBefore, nllAfter: nllBefore };
}

/** One bin of a reliability diagram: predictions whose confidence (top probability) fell in [lower, upper). */
export interface ReliabilityBin {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  /** Fraction of the bin's predictions that were right; null for an empty bin. */
  readonly accuracy: number | null;
  /** Mean confidence in the bin; null for an empty bin. */
  readonly confidence: number | null;
}

export interface CalibrationReport {
  /** Expected calibration error: Σ over bins of (count / n) · |accuracy − confidence|. */
  readonly ece: number;
  readonly bins: readonly ReliabilityBin[];
}

/**
 * ECE with `numBins` equal-width confidence bins over [0, 1] (the last bin includes 1), from probabilities
 * [labels.length × numClasses]. The predicted class is the first maximum.
 */
export function calibrationReport(probabilities: Float32Array, labels: ArrayLike<number>, numClasses: number, numBins = 15): CalibrationReport {
  if (probabilities.length !== labels.length * numClasses)
    throw new RangeError(`calibrationReport: ${probabilities.length} probabilities for ${labels.length} labels × ${numClasses} classes.`);
  if (!(Number.isInteger(numBins) && numBins >= 1)) throw new RangeError(`calibrationReport: numBins must be a positive integer, got ${numBins}.`);
  const counts = new Float64Array(numBins), correct = new Float64Array(numBins), confidenceSums = new Float64Array(numBins);
  for (let row = 0; row < labels.length; row++) {
    const offset = row * numClasses;
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (probabilities[offset + k]! > probabilities[offset + best]!) best = k;
    const confidence = probabilities[offset + best]!;
    const bin = Math.min(numBins - 1, Math.floor(confidence * numBins));
    counts[bin]!++;
    confidenceSums[bin]! += confidence;
    if (best === labels[row]) correct[bin]!++;
  }
  let ece = 0;
  const bins: ReliabilityBin[] = [];
  for (let bin = 0; bin < numBins; bin++) {
    const count = counts[bin]!;
    const accuracy = count === 0 ? null : correct[bin]! / count;
    const confidence = count === 0 ? null : confidenceSums[bin]! / count;
    if (accuracy !== null && confidence !== null) ece += (count / labels.length) * Math.abs(accuracy - confidence);
    bins.push({ lower: bin / numBins, upper: (bin + 1) / numBins, count, accuracy, confidence });
  }
  return { ece: labels.length === 0 ? Number.NaN : ece, bins };
}

/** Mean negative log-likelihood of `labels` under `probabilities` [labels.length × numClasses] (probabilities floored at 1e-12). */
export function meanNegativeLogLikelihood(probabilities: Float32Array, labels: ArrayLike<number>, numClasses: number): number {
  let sum = 0;
  for (let row = 0; row < labels.length; row++) sum -= Math.log(Math.max(1e-12, probabilities[row * numClasses + labels[row]!]!));
  return labels.length === 0 ? Number.NaN : sum / labels.length;
}
