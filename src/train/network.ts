/**
 * The network `fit` trains: a linear softmax head or a ReLU MLP, as one flat parameter vector (kernels
 * output-major while training) plus batch-sized scratch buffers, with gather (standardize while copying rows),
 * dropout, forward and backward passes over one mini-batch.
 */
import type { DenseLayer, HeadWeights } from '../types.js';
import type { Rng } from '../util/rng.js';
import type { DenseKernels, DenseWorkspace, ParameterBlock } from './dense-kernels.js';
import type { KernelInitializer, LabelledFeatures, TrainingViews } from './fit-options.js';
import type { OptimizerStep } from './optimizers.js';

interface LayerPlan {
  readonly inputDim: number;
  readonly outputDim: number;
  readonly activation: 'relu' | 'linear';
  /** Offsets into the flat parameter vector: kernel [outputDim × inputDim], then bias. */
  readonly kernelOffset: number;
  readonly biasOffset: number;
}

/**
 * The network being trained: flat parameters, their gradients and optimizer state plus per-batch scratch
 * buffers, all allocated once in one kernel workspace.
 */
export class Network implements ParameterBlock {
  readonly layers: LayerPlan[] = [];
  readonly workspace: DenseWorkspace;
  readonly params: Float32Array;
  readonly grads: Float32Array;
  /** Optimizer state arrays (as many as asked for), for `new Adam(…, network.state)`. */
  readonly state: readonly Float32Array[];
  /** Standardized (and dropped-out) input batch [batchSize × embeddingDim]. */
  readonly input: Float32Array;
  readonly inputMask: Float32Array | null;
  /** Post-activation (post-dropout) outputs of each layer [batchSize × outputDim]; the last holds logits. */
  readonly activations: Float32Array[];
  readonly masks: Array<Float32Array | null>;
  readonly gradA: Float32Array;
  readonly gradB: Float32Array;
  readonly batchLabels: Int32Array;
  /** Loss weight per class (in the workspace), or null. */
  readonly classWeights: Float32Array | null;
  readonly mean: Float32Array | null;
  readonly invStd: Float32Array | null;

  constructor(readonly embeddingDim: number, readonly numClasses: number, hidden: readonly number[],
    readonly batchSize: number, readonly dropout: number, standardization: { mean: Float32Array; std: Float32Array } | null,
    kernels: DenseKernels, optimizerStateCount: number, threads = 1, classWeights: Float32Array | null = null) {
    const widths = [embeddingDim, ...hidden, numClasses];
    let offset = 0, maxWidth = 0;
    for (let l = 0; l + 1 < widths.length; l++) {
      const inputDim = widths[l]!, outputDim = widths[l + 1]!;
      const activation = l + 2 < widths.length ? 'relu' : 'linear';
      this.layers.push({ inputDim, outputDim, activation, kernelOffset: offset, biasOffset: offset + inputDim * outputDim });
      offset += inputDim * outputDim + outputDim;
      maxWidth = Math.max(maxWidth, outputDim, l > 0 ? inputDim : 0);
    }
    const linear = hidden.length === 0;
    const masked = this.layers.map((layer) => dropout > 0 && layer.activation === 'relu');
    // One workspace: params, grads, optimizer state, input (+ mask), activations (+ masks), two gradient buffers.
    const lengths = [offset, offset, ...Array.from({ length: optimizerStateCount }, () => offset), batchSize * embeddingDim,
      dropout > 0 && linear ? batchSize * embeddingDim : 0,
      ...this.layers.map((layer) => batchSize * layer.outputDim),
      ...this.layers.map((layer, l) => (masked[l] ? batchSize * layer.outputDim : 0)),
      batchSize * maxWidth, batchSize * maxWidth,
      standardization === null ? 0 : embeddingDim, standardization === null ? 0 : embeddingDim,
      batchSize, classWeights === null ? 0 : numClasses];
    this.workspace = kernels.createWorkspace(lengths, { threads });
    const arrays = [...this.workspace.arrays];
    const take = (): Float32Array => arrays.shift()!;
    this.params = take();
    this.grads = take();
    this.state = Array.from({ length: optimizerStateCount }, take);
    this.input = take();
    const inputMask = take();
    this.inputMask = dropout > 0 && linear ? inputMask : null;
    this.activations = this.layers.map(take);
    this.masks = this.layers.map((_, l) => { const mask = take(); return masked[l] ? mask : null; });
    this.gradA = take();
    this.gradB = take();
    const mean = take(), invStd = take();
    const labelsBlock = take(), weights = take();
    this.batchLabels = new Int32Array(labelsBlock.buffer, labelsBlock.byteOffset, batchSize);   // int32 in the workspace
    if (classWeights !== null) weights.set(classWeights);
    this.classWeights = classWeights === null ? null : weights;
    if (standardization !== null) {
      mean.set(standardization.mean);
      for (let feature = 0; feature < embeddingDim; feature++) invStd[feature] = 1 / standardization.std[feature]!;
    }
    this.mean = standardization === null ? null : mean;
    this.invStd = standardization === null ? null : invStd;
  }

  /**
   * Initial weights, drawn in Keras's [inputDim × outputDim] order, layer by layer (see {@link KernelInitializer}):
   * - `glorot-uniform` (Keras): kernels U(±√(6/(fanIn+fanOut))), zero biases;
   * - `pytorch` (torch.nn.Linear): kernels and biases U(±1/√fanIn), biases drawn after each kernel;
   * - `zeros`: the output layer all zeros; hidden layers (an MLP cannot start symmetric) Glorot-uniform.
   */
  initialize(rng: Rng, initializer: KernelInitializer = 'glorot-uniform'): void {
    this.layers.forEach((layer, index) => {
      const { inputDim, outputDim, kernelOffset, biasOffset } = layer;
      const isOutput = index === this.layers.length - 1;
      const scheme = initializer === 'zeros' && !isOutput ? 'glorot-uniform' : initializer;
      switch (scheme) {
        case 'zeros':
          this.params.fill(0, kernelOffset, biasOffset + outputDim);
          return;
        case 'glorot-uniform':
        case 'pytorch': {
          const limit = scheme === 'pytorch' ? 1 / Math.sqrt(inputDim) : Math.sqrt(6 / (inputDim + outputDim));
          for (let feature = 0; feature < inputDim; feature++)
            for (let k = 0; k < outputDim; k++)
              this.params[kernelOffset + k * inputDim + feature] = (2 * rng.nextFloat() - 1) * limit;
          for (let k = 0; k < outputDim; k++) this.params[biasOffset + k] = scheme === 'pytorch' ? (2 * rng.nextFloat() - 1) * limit : 0;
          return;
        }
        default:
          throw new RangeError(`initialize: unknown kernel initializer ${String(scheme)}.`);
      }
    });
  }

  /**
   * Copies rows `order[start..start+rows)` into the input buffer, then standardizes them in place. With `views`, a row whose drawn
   * view `viewOf[sample]` is v ≥ 1 is read from the views matrix instead of `data.features`.
   */
  gather(data: LabelledFeatures, order: Int32Array | null, start: number, rows: number,
    views: TrainingViews | null = null, viewOf: Int32Array | null = null): void {
    const { embeddingDim, input, mean, invStd } = this;
    const { labels } = data;
    for (let row = 0; row < rows; row++) {
      const sample = order === null ? start + row : order[start + row]!;
      this.batchLabels[row] = labels[sample]!;
      const view = viewOf === null ? 0 : viewOf[sample]!;
      const features = view === 0 || views === null ? data.features : views.features;
      const source = view === 0 || views === null ? sample * embeddingDim : (sample * views.numViews + view - 1) * embeddingDim;
      input.set(features.subarray(source, source + embeddingDim), row * embeddingDim);
    }
    if (mean !== null && invStd !== null) this.workspace.standardizeRows(input, rows, embeddingDim, mean, invStd);
  }

  /** Inverted dropout of `values[0 .. length)` in place, mask kept for the backward pass; `length` draws of `rng`. */
  private applyDropout(values: Float32Array, mask: Float32Array, length: number, rng: Rng): void {
    this.workspace.dropout(values, mask, length, rng.skip(length), this.dropout, 1 / (1 - this.dropout));
  }

  /** Forward pass over `rows` gathered rows; returns the logits buffer. Dropout only when `rng` is given. */
  forward(rows: number, rng: Rng | null): Float32Array {
    const { workspace, params } = this;
    if (rng !== null && this.inputMask !== null) {
      this.applyDropout(this.input, this.inputMask, rows * this.embeddingDim, rng);
    }
    let input = this.input;
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l]!, out = this.activations[l]!;
      workspace.forward(input, 0, rows, layer.inputDim, params, layer.kernelOffset, params, layer.biasOffset, layer.outputDim, out, 0);
      if (layer.activation === 'relu') {
        const length = rows * layer.outputDim, mask = this.masks[l]!;
        for (let i = 0; i < length; i++) if (!(out[i]! > 0)) out[i] = 0;
        if (rng !== null && mask !== null) this.applyDropout(out, mask, length, rng);
      }
      input = out;
    }
    return input;
  }

  /**
   * Backward pass from d(loss)/d(logits) in `gradA`. With `step`, each layer's update is applied as soon as its
   * gradient is known (fused in the kernels; a layer's input gradient is computed first, from its old weights);
   * without, the gradients are left in `grads`. `dropout` says whether masks are live.
   */
  backward(rows: number, dropout: boolean, step: OptimizerStep | null): void {
    const { workspace, params } = this;
    let gradOut = this.gradA, gradIn = this.gradB;
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const layer = this.layers[l]!;
      const input = l === 0 ? this.input : this.activations[l - 1]!;
      if (l > 0) workspace.backwardInput(gradOut, rows, layer.outputDim, params, layer.kernelOffset, layer.inputDim, gradIn);
      workspace.backwardWeights(gradOut, rows, layer.outputDim, input, 0, layer.inputDim, this, layer.kernelOffset, step);
      if (l === 0) break;
      // Through the previous layer's dropout and ReLU: its stored output is relu(z)·mask.
      const length = rows * layer.inputDim, previous = this.activations[l - 1]!, mask = dropout ? this.masks[l - 1]! : null;
      for (let i = 0; i < length; i++)
        gradIn[i] = previous[i]! > 0 ? (mask === null ? gradIn[i]! : gradIn[i]! * mask[i]!) : 0;
      [gradOut, gradIn] = [gradIn, gradOut];
    }
  }

  getWeights(): Float32Array[] {
    return this.layers.flatMap((layer) => [
      this.params.slice(layer.kernelOffset, layer.kernelOffset + layer.inputDim * layer.outputDim),
      this.params.slice(layer.biasOffset, layer.biasOffset + layer.outputDim),
    ]);
  }

  setWeights(weights: readonly Float32Array[]): void {
    if (weights.length !== this.layers.length * 2)
      throw new RangeError(`setWeights: expected ${this.layers.length * 2} arrays (kernel and bias per layer), got ${weights.length}.`);
    this.layers.forEach((layer, l) => {
      const kernel = weights[2 * l]!, bias = weights[2 * l + 1]!;
      if (kernel.length !== layer.inputDim * layer.outputDim || bias.length !== layer.outputDim)
        throw new RangeError(`setWeights: layer ${l} needs ${layer.inputDim * layer.outputDim} + ${layer.outputDim} values, got ${kernel.length} + ${bias.length}.`);
      this.params.set(kernel, layer.kernelOffset);
      this.params.set(bias, layer.biasOffset);
    });
  }

  /** The head in the exported layout: kernels transposed to [inputDim × outputDim]. */
  toHeadWeights(standardization: { mean: Float32Array; std: Float32Array } | null): HeadWeights {
    const layers: DenseLayer[] = this.layers.map((layer) => {
      const { inputDim, outputDim, kernelOffset, biasOffset, activation } = layer;
      const kernel = transposeMatrix(this.params.subarray(kernelOffset, kernelOffset + inputDim * outputDim), outputDim, inputDim);
      return { inputDim, outputDim, kernel, bias: this.params.slice(biasOffset, biasOffset + outputDim), activation };
    });
    return { embeddingDim: this.embeddingDim, numClasses: this.numClasses, layers, standardization };
  }
}

/**
 * `matrix` ([rows × cols], row-major) transposed to [cols × rows]: a layer's kernel between the training layout
 * ([outputDim × inputDim]) and the exported one ([inputDim × outputDim]).
 */
export function transposeMatrix(matrix: Float32Array, rows: number, cols: number): Float32Array {
  const transposed = new Float32Array(rows * cols);
  for (let row = 0; row < rows; row++)
    for (let col = 0; col < cols; col++) transposed[col * rows + row] = matrix[row * cols + col]!;
  return transposed;
}

/** Multiply-adds of one sample's forward pass through a head's dense layers (embeddingDim → hidden… → numClasses). */
export function headMultiplyAdds(embeddingDim: number, hidden: readonly number[], numClasses: number): number {
  const widths = [embeddingDim, ...hidden, numClasses];
  let multiplyAdds = 0;
  for (let l = 0; l + 1 < widths.length; l++) multiplyAdds += widths[l]! * widths[l + 1]!;
  return multiplyAdds;
}
