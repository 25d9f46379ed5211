/**
 * Seeded builders of small image backbones with a classifier on top, shaped like the zoo's VGG and ResNet
 * graphs. Used by tests, the demo and the benchmark. Weights are He-initialised from a seeded PRNG, so the
 * features are input-dependent and identical across runs and machines.
 */
import { attribute, emptyTensor, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from './graph-builder.js';
import { TensorDataType } from './proto.js';
import type { AttributeProto, ModelProto, NodeProto, TensorProto } from './proto.js';
import { Rng } from '../util/rng.js';

export interface TestBackboneOptions {
  /** Height and width of the square input; a multiple of 8. @defaultValue `32` */
  inputSize?: number;
  /** Channels of the first conv; later stages use 2× and 4×. @defaultValue `8` (VGG) / `16` (ResNet) */
  width?: number;
  /** Outputs of the final classifier. @defaultValue `10` */
  numClasses?: number;
  /** `'N'`: symbolic batch; `1`: a fixed batch of 1, as VGG16-7 and mobilenetv2-7 declare. @defaultValue `'N'` */
  batch?: 'N' | 1;
  /** ai.onnx opset, 7 to 21. @defaultValue `13` */
  opset?: number;
  /** PRNG seed for the weights. @defaultValue `1` */
  seed?: number;
  /**
   * How the classifier flattens its input: a Flatten node, or a Reshape whose constant shape is
   * `[batch, -1]` (so with `batch: 1` it hard-codes batch 1, like the zoo's MXNet exports). @defaultValue `'flatten'`
   */
  flatten?: 'flatten' | 'reshape';
  /** End with a Softmax after the classifier. @defaultValue `false` */
  softmax?: boolean;
  /** VGG only: width of the two hidden dense layers (the embedding size). @defaultValue `128` */
  hiddenDim?: number;
}

export interface TestBackbone {
  model: ModelProto;
  inputName: string;
  /** e.g. `['N', 3, 32, 32]` or `[1, 3, 32, 32]`. */
  inputShape: Array<number | string>;
  outputName: string;
  /**
   * The tensor an automatic cut picks: the classifier's input with Dropout stepped over (VGG: the last
   * dense ReLU), or for ResNet the [N, C, 1, 1] pooling output before the Flatten that feeds the classifier.
   */
  featureTensor: string;
  /** Width of the features (C for ResNet). */
  embeddingDim: number;
  /** The last spatial feature map ([N, C, H, W]), for cuts with pooling. */
  spatialTensor: string;
  /** `[C, H, W]` of `spatialTensor`. */
  spatialShape: [number, number, number];
  numClasses: number;
}

/** VGG-like: 3 × (conv3×3 → relu → maxpool2), flatten, 2 × (gemm → relu → dropout), gemm. */
export function buildVggBackbone(options: TestBackboneOptions = {}): TestBackbone {
  const config = resolveOptions(options, 8);
  const hiddenDim = options.hiddenDim ?? 128;
  const b = new GraphAssembler(config.seed, config.opset);
  let x = 'input';
  let channels = 3;
  let size = config.inputSize;
  for (let stage = 0; stage < 3; stage++) {
    const outChannels = config.width << stage;
    x = b.conv(`vgg/conv${stage}`, x, channels, outChannels, 3, 1);
    x = b.op('Relu', `vgg/relu${stage}`, [x]);
    x = b.op('MaxPool', `vgg/pool${stage}`, [x], [attribute.ints('kernel_shape', [2, 2]), attribute.ints('strides', [2, 2])]);
    channels = outChannels;
    size /= 2;
  }
  const spatialTensor = x;
  x = b.flatten('vgg/flatten0', x, config);
  let inDim = channels * size * size;
  let featureTensor = x;
  for (let layer = 0; layer < 2; layer++) {
    x = b.gemm(`vgg/dense${layer}`, x, inDim, hiddenDim);
    x = featureTensor = b.op('Relu', `vgg/dense${layer}_relu`, [x]);
    x = b.dropout(`vgg/dropout${layer}`, x);
    inDim = hiddenDim;
  }
  const output = b.classifier('vgg/dense2', x, hiddenDim, config);
  return b.finish(config, output, {
    featureTensor, embeddingDim: hiddenDim, spatialTensor, spatialShape: [channels, size, size],
  }, 'vgg-like');
}

/**
 * ResNet-like: conv3×3 → bn → relu stem, then three stages of one basic residual block each
 * (conv → bn → relu → conv → bn, + identity or a strided 1×1 projection, → relu), GlobalAveragePool,
 * flatten, gemm.
 */
export function buildResnetBackbone(options: TestBackboneOptions = {}): TestBackbone {
  const config = resolveOptions(options, 16);
  const b = new GraphAssembler(config.seed, config.opset);
  let x = b.conv('resnet/stem/conv', 'input', 3, config.width, 3, 1);
  x = b.batchNorm('resnet/stem/bn', x, config.width);
  x = b.op('Relu', 'resnet/stem/relu', [x]);
  let channels = config.width;
  let size = config.inputSize;
  for (let stage = 0; stage < 3; stage++) {
    const outChannels = config.width << stage;
    const stride = stage === 0 ? 1 : 2;
    const prefix = `resnet/stage${stage}`;
    let y = b.conv(`${prefix}/conv0`, x, channels, outChannels, 3, stride);
    y = b.batchNorm(`${prefix}/bn0`, y, outChannels);
    y = b.op('Relu', `${prefix}/relu0`, [y]);
    y = b.conv(`${prefix}/conv1`, y, outChannels, outChannels, 3, 1);
    y = b.batchNorm(`${prefix}/bn1`, y, outChannels, 0.5);
    let shortcut = x;
    if (stride !== 1 || outChannels !== channels) {
      shortcut = b.conv(`${prefix}/proj_conv`, x, channels, outChannels, 1, stride);
      shortcut = b.batchNorm(`${prefix}/proj_bn`, shortcut, outChannels);
    }
    x = b.op('Add', `${prefix}/add`, [y, shortcut]);
    x = b.op('Relu', `${prefix}/relu1`, [x]);
    channels = outChannels;
    size /= stride;
  }
  const spatialTensor = x;
  x = b.op('GlobalAveragePool', 'resnet/pool', [x]);
  const featureTensor = x;
  x = b.flatten('resnet/flatten', x, config);
  const output = b.classifier('resnet/dense', x, channels, config);
  return b.finish(config, output, {
    featureTensor, embeddingDim: channels, spatialTensor, spatialShape: [channels, size, size],
  }, 'resnet-like');
}

export interface Vgg16BackboneOptions {
  /** Height and width of the square input; a multiple of 32. @defaultValue `224` */
  inputSize?: number;
  /** Outputs of the final classifier. @defaultValue `1000` */
  numClasses?: number;
  /** PRNG seed for the weights. @defaultValue `1` */
  seed?: number;
}

/**
 * VGG16 as torchvision exports it (opset 13, symbolic batch): 13 conv3×3 + ReLU in five stages with 2×2 max pools,
 * flatten, 4096 → 4096 → classes dense layers with transB = 1. At 224×224 and 1000 classes it has VGG16's
 * 138,357,544 parameters (553 MB of float32), He-uniform from a seeded PRNG: a stand-in for the real file in
 * benchmarks and tests of export at scale, built in a few seconds with no download.
 */
export function buildVgg16Backbone(options: Vgg16BackboneOptions = {}): TestBackbone {
  const inputSize = options.inputSize ?? 224;
  if (!Number.isInteger(inputSize) || inputSize < 32 || inputSize % 32 !== 0) {
    throw new RangeError(`buildVgg16Backbone: 'inputSize' must be a multiple of 32, got ${inputSize}.`);
  }
  const config: ResolvedOptions = {
    inputSize, width: 64, numClasses: options.numClasses ?? 1000, batch: 'N', opset: 13, seed: options.seed ?? 1,
    flatten: 'flatten', softmax: false,
  };
  const b = new GraphAssembler(config.seed, config.opset, 'uniform');
  let x = 'input';
  let channels = 3;
  let size = inputSize;
  const stages = [[64, 2], [128, 2], [256, 3], [512, 3], [512, 3]] as const;
  stages.forEach(([outChannels, convs], stage) => {
    for (let conv = 0; conv < convs; conv++) {
      x = b.conv(`vgg16/features/${stage}_${conv}/conv`, x, channels, outChannels, 3, 1);
      x = b.op('Relu', `vgg16/features/${stage}_${conv}/relu`, [x]);
      channels = outChannels;
    }
    x = b.op('MaxPool', `vgg16/features/${stage}/pool`, [x], [attribute.ints('kernel_shape', [2, 2]), attribute.ints('strides', [2, 2])]);
    size /= 2;
  });
  const spatialTensor = x;
  x = b.flatten('vgg16/flatten', x, config);
  let inDim = channels * size * size;
  let featureTensor = x;
  for (let layer = 0; layer < 2; layer++) {
    x = b.gemm(`vgg16/classifier/fc${layer + 6}`, x, inDim, 4096);
    x = featureTensor = b.op('Relu', `vgg16/classifier/fc${layer + 6}_relu`, [x]);
    inDim = 4096;
  }
  const output = b.classifier('vgg16/classifier/fc8', x, 4096, config);
  return b.finish(config, output, { featureTensor, embeddingDim: 4096, spatialTensor, spatialShape: [channels, size, size] }, 'vgg16');
}

interface ResolvedOptions {
  inputSize: number;
  width: number;
  numClasses: number;
  batch: 'N' | 1;
  opset: number;
  seed: number;
  flatten: 'flatten' | 'reshape';
  softmax: boolean;
}

function resolveOptions(options: TestBackboneOptions, defaultWidth: number): ResolvedOptions {
  const resolved: ResolvedOptions = {
    inputSize: options.inputSize ?? 32,
    width: options.width ?? defaultWidth,
    numClasses: options.numClasses ?? 10,
    batch: options.batch ?? 'N',
    opset: options.opset ?? 13,
    seed: options.seed ?? 1,
    flatten: options.flatten ?? 'flatten',
    softmax: options.softmax ?? false,
  };
  if (!Number.isInteger(resolved.inputSize) || resolved.inputSize < 8 || resolved.inputSize % 8 !== 0) {
    throw new RangeError(`Test backbone: 'inputSize' must be a multiple of 8, got ${resolved.inputSize}.`);
  }
  if (!Number.isInteger(resolved.opset) || resolved.opset < 7 || resolved.opset > 21) {
    throw new RangeError(`Test backbone: 'opset' must be an integer in 7..21, got ${resolved.opset}.`);
  }
  if (!Number.isInteger(resolved.width) || resolved.width < 1) {
    throw new RangeError(`Test backbone: 'width' must be a positive integer, got ${resolved.width}.`);
  }
  return resolved;
}

/** Appends nodes and seeded initializers in topological order. */
class GraphAssembler {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly rng: Rng;

  /** `normal`: He-normal weights (Box-Muller); `uniform`: He-uniform, about 3× faster for large models. */
  constructor(seed: number, private readonly opset: number, private readonly init: 'normal' | 'uniform' = 'normal') {
    this.rng = new Rng(seed >>> 0 || 1);
  }

  op(opType: string, name: string, inputs: string[], attributes: AttributeProto[] = []): string {
    this.nodes.push(makeNode(opType, inputs, [name], { name, attributes }));
    return name;
  }

  conv(name: string, x: string, inChannels: number, outChannels: number, kernel: number, stride: number): string {
    const fanIn = inChannels * kernel * kernel;
    this.weight(`${name}/weight`, [outChannels, inChannels, kernel, kernel], Math.sqrt(2 / fanIn));
    this.weight(`${name}/bias`, [outChannels], 0.05);
    const pad = (kernel - 1) >> 1;
    return this.op('Conv', name, [x, `${name}/weight`, `${name}/bias`], [
      attribute.ints('kernel_shape', [kernel, kernel]), attribute.ints('strides', [stride, stride]),
      attribute.ints('pads', [pad, pad, pad, pad]),
    ]);
  }

  batchNorm(name: string, x: string, channels: number, scale = 1): string {
    const param = (suffix: string, base: number, spread: number): string => {
      const values = new Float32Array(channels);
      for (let c = 0; c < channels; c++) values[c] = base + spread * (2 * this.uniform() - 1);
      this.initializers.push(makeTensor(`${name}/${suffix}`, 'float32', [channels], values));
      return `${name}/${suffix}`;
    };
    const inputs = [x, param('scale', scale, 0.2 * scale), param('bias', 0, 0.1), param('mean', 0, 0.1), param('var', 1, 0.3)];
    return this.op('BatchNormalization', name, inputs, [attribute.float('epsilon', 1e-5)]);
  }

  gemm(name: string, x: string, inDim: number, outDim: number): string {
    this.weight(`${name}/weight`, [outDim, inDim], Math.sqrt(2 / inDim));
    this.weight(`${name}/bias`, [outDim], 0.05);
    return this.op('Gemm', name, [x, `${name}/weight`, `${name}/bias`], [attribute.int('transB', 1)]);
  }

  dropout(name: string, x: string): string {
    // Dropout-7/10 take `ratio` as an attribute; from 12 it is an optional input (default 0.5).
    return this.op('Dropout', name, [x], this.opset < 12 ? [attribute.float('ratio', 0.5)] : []);
  }

  flatten(name: string, x: string, config: ResolvedOptions): string {
    if (config.flatten === 'flatten') return this.op('Flatten', name, [x], [attribute.int('axis', 1)]);
    const shapeName = `${name}/shape`;
    this.initializers.push(makeTensor(shapeName, 'int64', [2], [config.batch === 1 ? 1 : 0, -1]));
    return this.op('Reshape', name, [x, shapeName]);
  }

  classifier(name: string, x: string, inDim: number, config: ResolvedOptions): string {
    const logits = this.gemm(name, x, inDim, config.numClasses);
    return config.softmax ? this.op('Softmax', `${name}/softmax`, [logits], [attribute.int('axis', 1)]) : logits;
  }

  finish(config: ResolvedOptions, output: string, parts: Pick<TestBackbone, 'featureTensor' | 'embeddingDim' | 'spatialTensor' | 'spatialShape'>,
    graphName: string): TestBackbone {
    const inputShape: Array<number | string> = [config.batch, 3, config.inputSize, config.inputSize];
    const inputs = [makeValueInfo('input', 'float32', inputShape)];
    if (config.opset < 9) {
      // IR 3 graphs list every initializer as a graph input too, as old exporters did.
      for (const tensor of this.initializers) inputs.push(makeValueInfo(tensor.name ?? '', tensor.data_type ?? 1, tensor.dims));
    }
    const graph = makeGraph(this.nodes, inputs, [makeValueInfo(output, 'float32', [config.batch, config.numClasses])], {
      name: graphName, initializers: this.initializers,
    });
    const model = makeModel(graph, { opset: config.opset, producerName: 'finetune-test-backbones' });
    return { model, inputName: 'input', inputShape, outputName: output, numClasses: config.numClasses, ...parts };
  }

  private weight(name: string, dims: number[], std: number): void {
    let count = 1;
    for (const dim of dims) count *= dim;
    const values = new Float32Array(count);
    if (this.init === 'normal') {
      for (let i = 0; i < count; i++) values[i] = std * this.normal();
      this.initializers.push(makeTensor(name, 'float32', dims, values));
      return;
    }
    // Uniform on [−√3·std, √3·std] has standard deviation std; the values become raw_data without a copy.
    const limit = Math.sqrt(3) * std;
    for (let i = 0; i < count; i++) values[i] = limit * (2 * this.uniform() - 1);
    const tensor = emptyTensor(name, TensorDataType.FLOAT, dims);
    tensor.raw_data = new Uint8Array(values.buffer);
    this.initializers.push(tensor);
  }

  private uniform(): number {
    return this.rng.nextFloat();
  }

  /** Box-Muller standard normal. */
  private normal(): number {
    const u = Math.max(this.uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
}
