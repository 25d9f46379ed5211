/**
 * One head from K: the head whose logits are the mean of the K heads' logits, divided by a temperature. It is an
 * ordinary `HeadWeights` (a stack of dense layers), so export, parity and predictProbabilities need nothing new:
 * - linear heads: the mean of the K kernels and biases (each head's standardization folded in first), exactly;
 * - MLP heads (same hidden widths): one wider MLP holding the K heads side by side. Its first layer concatenates
 *   the K first layers (all read the same features), middle layers are block-diagonal, and the last layer stacks the
 *   K last layers, scaled by 1/K, so it sums the K logit vectors into their mean.
 * The temperature divides the last layer's kernel and bias, which divides the logits.
 */
import type { DenseLayer, HeadWeights } from '../types.js';
import { foldStandardization } from './standardization.js';

export interface MergeHeadsOptions {
  /** Logits are divided by it (temperature scaling). @defaultValue `1` */
  temperature?: number;
}

/** See the module comment. @throws RangeError when the heads differ in input size, classes or layer widths. */
export function mergeHeads(heads: readonly HeadWeights[], options: MergeHeadsOptions = {}): HeadWeights {
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new RangeError(`mergeHeads: temperature must be > 0, got ${temperature}.`);
  const [first] = heads;
  if (first === undefined) throw new RangeError('mergeHeads: no heads.');
  const widths = (head: HeadWeights) => head.layers.map((layer) => `${layer.inputDim}→${layer.outputDim}:${layer.activation}`).join(',');
  for (const head of heads) {
    if (head.embeddingDim !== first.embeddingDim || head.numClasses !== first.numClasses || widths(head) !== widths(first))
      throw new RangeError(`mergeHeads: heads differ (${widths(head)} vs ${widths(first)}).`);
  }
  const folded = heads.map((head) => foldStandardization(head));
  const count = folded.length;
  const layers = first.layers.length === 1 ? [meanLayer(folded.map((head) => head.layers[0]!))] : sideBySide(folded);
  const last = layers[layers.length - 1]!;
  const inverse = 1 / temperature;
  layers[layers.length - 1] = count === 1 && temperature === 1 ? last
    : { ...last, kernel: last.kernel.map((value) => value * inverse), bias: last.bias.map((value) => value * inverse) };
  return { embeddingDim: first.embeddingDim, numClasses: first.numClasses, layers, standardization: null };
}

/** The elementwise mean of same-shaped layers, accumulated in float64. */
function meanLayer(layers: readonly DenseLayer[]): DenseLayer {
  const [first] = layers as [DenseLayer, ...DenseLayer[]];
  const mean = (pick: (layer: DenseLayer) => Float32Array): Float32Array => {
    const sum = new Float64Array(pick(first).length);
    for (const layer of layers) { const values = pick(layer); for (let i = 0; i < sum.length; i++) sum[i]! += values[i]!; }
    return Float32Array.from(sum, (value) => value / layers.length);
  };
  return { ...first, kernel: mean((layer) => layer.kernel), bias: mean((layer) => layer.bias) };
}

/** K MLPs of the same widths as one MLP K times as wide (see the module comment). Kernels are [inputDim × outputDim]. */
function sideBySide(heads: readonly HeadWeights[]): DenseLayer[] {
  const count = heads.length;
  const depth = heads[0]!.layers.length;
  const merged: DenseLayer[] = [];
  for (let l = 0; l < depth; l++) {
    const shape = heads[0]!.layers[l]!;
    const isFirst = l === 0, isLast = l === depth - 1;
    const inputDim = isFirst ? shape.inputDim : shape.inputDim * count;
    const outputDim = isLast ? shape.outputDim : shape.outputDim * count;
    const kernel = new Float32Array(inputDim * outputDim);
    const bias = new Float32Array(outputDim);
    heads.forEach((head, h) => {
      const layer = head.layers[l]!;
      const rowStart = isFirst ? 0 : h * shape.inputDim;
      const colStart = isLast ? 0 : h * shape.outputDim;
      const scale = isLast ? 1 / count : 1;
      for (let input = 0; input < shape.inputDim; input++) {
        for (let output = 0; output < shape.outputDim; output++) {
          kernel[(rowStart + input) * outputDim + colStart + output]! += layer.kernel[input * shape.outputDim + output]! * scale;
        }
      }
      for (let output = 0; output < shape.outputDim; output++) bias[colStart + output]! += layer.bias[output]! * scale;
    });
    merged.push({ inputDim, outputDim, kernel, bias, activation: shape.activation });
  }
  return merged;
}
