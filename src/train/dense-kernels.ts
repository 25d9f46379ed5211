/**
 * The three dense-layer kernels of training, on row-major Float32Arrays with element offsets.
 * Weights are stored *output-major* ([outputDim × inputDim], like PyTorch's Linear) while training: the forward
 * pass is then one contiguous dot product per (row, output) and both backward passes are contiguous axpys,
 * which measured ~2× faster than the [inputDim × outputDim] layout for a 3-class head on 2048 features (the
 * inner loop over 3 classes is too short to pay). HeadWeights transposes to [inputDim × outputDim] at the end.
 *
 * Dot products accumulate in float64 (JS numbers) and are rounded to float32 when stored.
 */
export interface DenseKernels {
  /** out[i, j] = bias[j] + Σ_p input[i, p] · weights[j, p], for i < rows, j < outputDim. */
  forward(input: Float32Array, inputOffset: number, rows: number, inputDim: number,
    weights: Float32Array, weightsOffset: number, bias: Float32Array, biasOffset: number, outputDim: number,
    out: Float32Array, outOffset: number): void;
  /** gradWeights[j, p] = Σ_i gradOut[i, j] · input[i, p]; gradBias[j] = Σ_i gradOut[i, j] (both overwritten). */
  backwardWeights(gradOut: Float32Array, rows: number, outputDim: number, input: Float32Array, inputOffset: number, inputDim: number,
    gradWeights: Float32Array, gradWeightsOffset: number, gradBias: Float32Array, gradBiasOffset: number): void;
  /** gradInput[i, p] = Σ_j gradOut[i, j] · weights[j, p] (overwritten). */
  backwardInput(gradOut: Float32Array, rows: number, outputDim: number, weights: Float32Array, weightsOffset: number, inputDim: number,
    gradInput: Float32Array): void;
}

function dot(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, length: number): number {
  let sum = 0;
  for (let i = 0; i < length; i++) sum += a[aOffset + i]! * b[bOffset + i]!;
  return sum;
}

function axpy(alpha: number, x: Float32Array, xOffset: number, y: Float32Array, yOffset: number, length: number): void {
  for (let i = 0; i < length; i++) y[yOffset + i] = y[yOffset + i]! + alpha * x[xOffset + i]!;
}

export const jsDenseKernels: DenseKernels = {
  forward(input, inputOffset, rows, inputDim, weights, weightsOffset, bias, biasOffset, outputDim, out, outOffset) {
    for (let row = 0; row < rows; row++) {
      const rowOffset = inputOffset + row * inputDim, outRow = outOffset + row * outputDim;
      for (let j = 0; j < outputDim; j++)
        out[outRow + j] = bias[biasOffset + j]! + dot(input, rowOffset, weights, weightsOffset + j * inputDim, inputDim);
    }
  },
  backwardWeights(gradOut, rows, outputDim, input, inputOffset, inputDim, gradWeights, gradWeightsOffset, gradBias, gradBiasOffset) {
    gradWeights.fill(0, gradWeightsOffset, gradWeightsOffset + outputDim * inputDim);
    for (let j = 0; j < outputDim; j++) {
      let biasSum = 0;
      const weightRow = gradWeightsOffset + j * inputDim;
      for (let row = 0; row < rows; row++) {
        const g = gradOut[row * outputDim + j]!;
        biasSum += g;
        if (g !== 0) axpy(g, input, inputOffset + row * inputDim, gradWeights, weightRow, inputDim);
      }
      gradBias[gradBiasOffset + j] = biasSum;
    }
  },
  backwardInput(gradOut, rows, outputDim, weights, weightsOffset, inputDim, gradInput) {
    gradInput.fill(0, 0, rows * inputDim);
    for (let row = 0; row < rows; row++)
      for (let j = 0; j < outputDim; j++) {
        const g = gradOut[row * outputDim + j]!;
        if (g !== 0) axpy(g, weights, weightsOffset + j * inputDim, gradInput, row * inputDim, inputDim);
      }
  },
};
