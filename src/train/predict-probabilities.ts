import type { HeadWeights } from '../types.js';

function checkHead(head: HeadWeights): void {
  let width = head.embeddingDim;
  head.layers.forEach((layer, index) => {
    if (layer.inputDim !== width || layer.kernel.length !== layer.inputDim * layer.outputDim || layer.bias.length !== layer.outputDim)
      throw new RangeError(`predictLogits: layer ${index} is ${layer.inputDim}→${layer.outputDim} with ${layer.kernel.length} kernel and ${layer.bias.length} bias values; expected input ${width}.`);
    width = layer.outputDim;
  });
  if (width !== head.numClasses)
    throw new RangeError(`predictLogits: the last layer outputs ${width} values, expected numClasses ${head.numClasses}.`);
}

/**
 * Logits [numSamples × numClasses] for row-major features [numSamples × embeddingDim]: what the exported graph
 * (Gemm → Relu → … → Gemm, standardization folded into the first Gemm) computes before its Softmax.
 *
 * Standardization is applied as (x − mean) · (1/std). Each output is accumulated in float64 (row → feature →
 * class, so kernel rows are read contiguously) and rounded to float32 once per layer, as the graph passes float32
 * activations; ONNX Runtime's Gemm accumulates in float32 with FMA in blocked order, so the two agree to about 1e-6
 * relative, not bit for bit.
 */
export function predictLogits(head: HeadWeights, features: Float32Array, numSamples?: number): Float32Array {
  const { embeddingDim, numClasses } = head;
  const rows = numSamples ?? features.length / embeddingDim;
  if (!Number.isInteger(rows) || features.length < rows * embeddingDim)
    throw new RangeError(`predictLogits: features.length (${features.length}) is not numSamples × embeddingDim (${numSamples ?? '?'} × ${embeddingDim}).`);
  checkHead(head);
  let maxWidth = embeddingDim;
  for (const layer of head.layers) maxWidth = Math.max(maxWidth, layer.outputDim);
  let input = new Float64Array(maxWidth), output = new Float64Array(maxWidth);
  const logits = new Float32Array(rows * numClasses);
  const standardization = head.standardization;
  const invStd = standardization === null ? null : Float64Array.from(standardization.std, (value) => 1 / value);
  for (let row = 0; row < rows; row++) {
    const offset = row * embeddingDim;
    if (standardization === null || invStd === null) {
      for (let feature = 0; feature < embeddingDim; feature++) input[feature] = features[offset + feature]!;
    } else {
      const mean = standardization.mean;
      for (let feature = 0; feature < embeddingDim; feature++)
        input[feature] = (features[offset + feature]! - mean[feature]!) * invStd[feature]!;
    }
    for (const layer of head.layers) {
      const { inputDim, outputDim, kernel, bias } = layer;
      for (let k = 0; k < outputDim; k++) output[k] = bias[k]!;
      for (let feature = 0; feature < inputDim; feature++) {
        const value = input[feature]!;
        if (value === 0) continue;
        const kernelOffset = feature * outputDim;
        for (let k = 0; k < outputDim; k++) output[k]! += value * kernel[kernelOffset + k]!;
      }
      if (layer.activation === 'relu') for (let k = 0; k < outputDim; k++) if (!(output[k]! > 0)) output[k] = 0;
      // The next layer reads float32 activations, as the exported graph does.
      for (let k = 0; k < outputDim; k++) output[k] = Math.fround(output[k]!);
      [input, output] = [output, input];
    }
    logits.set(input.subarray(0, numClasses), row * numClasses);
  }
  return logits;
}

/**
 * Class probabilities [numSamples × numClasses]: the softmax (in float64, rounded once) of {@link predictLogits},
 * what the exported graph's `probabilities` output computes.
 */
export function predictProbabilities(head: HeadWeights, features: Float32Array, numSamples?: number): Float32Array {
  const { numClasses } = head;
  const probabilities = predictLogits(head, features, numSamples);
  const exps = new Float64Array(numClasses);
  for (let offset = 0; offset < probabilities.length; offset += numClasses) {
    let max = -Infinity;
    for (let k = 0; k < numClasses; k++) if (probabilities[offset + k]! > max) max = probabilities[offset + k]!;
    let sum = 0;
    for (let k = 0; k < numClasses; k++) sum += exps[k] = Math.exp(probabilities[offset + k]! - max);
    for (let k = 0; k < numClasses; k++) probabilities[offset + k] = exps[k]! / sum;
  }
  return probabilities;
}
