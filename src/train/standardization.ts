import type { DenseLayer, HeadWeights } from '../types.js';

export interface Standardization {
  readonly mean: Float32Array;
  readonly std: Float32Array;
}

/**
 * Per-feature mean and (population) standard deviation of a row-major [numSamples × embeddingDim] matrix,
 * accumulated in float64 over two passes. A constant feature gets std 1 (as scikit-learn's StandardScaler does),
 * so it maps to 0 instead of NaN.
 */
export function fitStandardization(features: Float32Array, numSamples: number, embeddingDim: number): Standardization {
  if (features.length < numSamples * embeddingDim || numSamples < 1)
    throw new RangeError(`fitStandardization: need ${numSamples} × ${embeddingDim} values (numSamples ≥ 1), got ${features.length}.`);
  const sum = new Float64Array(embeddingDim);
  for (let row = 0; row < numSamples; row++) {
    const offset = row * embeddingDim;
    for (let feature = 0; feature < embeddingDim; feature++) sum[feature]! += features[offset + feature]!;
  }
  const mean64 = new Float64Array(embeddingDim);
  for (let feature = 0; feature < embeddingDim; feature++) mean64[feature] = sum[feature]! / numSamples;
  const squares = sum.fill(0);
  for (let row = 0; row < numSamples; row++) {
    const offset = row * embeddingDim;
    for (let feature = 0; feature < embeddingDim; feature++) {
      const centered = features[offset + feature]! - mean64[feature]!;
      squares[feature]! += centered * centered;
    }
  }
  const mean = new Float32Array(embeddingDim), std = new Float32Array(embeddingDim);
  for (let feature = 0; feature < embeddingDim; feature++) {
    mean[feature] = mean64[feature]!;
    const deviation = Math.sqrt(squares[feature]! / numSamples);
    std[feature] = deviation > 1e-12 && Number.isFinite(deviation) ? deviation : 1;
  }
  return { mean, std };
}

/**
 * The same head with standardization folded into the first layer, so the exported graph needs no Sub/Div:
 * x'·W + b with x' = (x − mean)/std equals x·W' + b' where W'[f,k] = W[f,k]/std[f] and
 * b'[k] = b[k] − Σ_f mean[f]·W'[f,k] (computed in float64, stored as float32).
 * Returns the head unchanged when it has no standardization.
 */
export function foldStandardization(head: HeadWeights): HeadWeights {
  if (head.standardization === null) return head;
  const { mean, std } = head.standardization;
  const [first, ...rest] = head.layers;
  if (first === undefined) throw new RangeError('foldStandardization: the head has no layers.');
  const { inputDim, outputDim } = first;
  const kernel = new Float32Array(inputDim * outputDim);
  const bias64 = Float64Array.from(first.bias);
  for (let feature = 0; feature < inputDim; feature++) {
    const invStd = 1 / std[feature]!, featureMean = mean[feature]!, offset = feature * outputDim;
    for (let k = 0; k < outputDim; k++) {
      const scaled = first.kernel[offset + k]! * invStd;
      kernel[offset + k] = scaled;
      bias64[k]! -= featureMean * scaled;
    }
  }
  const folded: DenseLayer = { ...first, kernel, bias: Float32Array.from(bias64) };
  return { ...head, layers: [folded, ...rest], standardization: null };
}
