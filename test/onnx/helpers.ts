/** Shared helpers for the ONNX tests: running models in onnxruntime-node and reading tensors out of them. */
import * as ort from 'onnxruntime-node';
import { makeValueInfo, opsetVersion } from '../../src/onnx/graph-builder.js';
import { inferShapes } from '../../src/onnx/infer-shapes.js';
import assert from 'node:assert/strict';
import type { CutBackbone } from '../../src/onnx/cut-backbone.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { encodeModel } from '../../src/onnx/write-model.js';

/** A copy of `model` whose graph also outputs `tensor` (weights shared); its element type comes from shape inference. */
export function withExtraOutput(model: ModelProto, tensor: string): ModelProto {
  const graph = model.graph!;
  const elemType = inferShapes(graph, { opset: opsetVersion(model) }).get(tensor)?.elemType ?? 1;
  return { ...model, graph: { ...graph, output: [...graph.output, makeValueInfo(tensor, elemType, undefined)] } };
}

export async function runModel(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** Deterministic, image-dependent float input of the given dims (values in about [-2, 2]). */
export function syntheticInput(dims: readonly number[], seed = 1): ort.Tensor {
  let count = 1;
  for (const dim of dims) count *= dim;
  const data = new Float32Array(count);
  const perImage = count / dims[0]!;
  for (let i = 0; i < count; i++) {
    const image = Math.floor(i / perImage);
    const j = i % perImage;
    data[i] = 2 * Math.sin(j * 0.013 * (image + seed) + image) * Math.cos(j * 0.0007 + seed);
  }
  return new ort.Tensor('float32', data, [...dims]);
}

/** One image of a batch tensor, as a batch of 1. */
export function sliceBatch(tensor: ort.Tensor, index: number): ort.Tensor {
  const perImage = tensor.data.length / tensor.dims[0]!;
  const data = (tensor.data as Float32Array).slice(index * perImage, (index + 1) * perImage);
  return new ort.Tensor('float32', data, [1, ...tensor.dims.slice(1)]);
}

/** Reduces [B, C, H, W] (as flat data) to [B, C] by mean or max over H×W. */
export function poolSpatial(data: ArrayLike<number>, dims: readonly number[], mode: 'avg' | 'max'): Float32Array {
  const [batch, channels] = [dims[0]!, dims[1]!];
  let area = 1;
  for (const dim of dims.slice(2)) area *= dim;
  const out = new Float32Array(batch * channels);
  for (let row = 0; row < batch * channels; row++) {
    let acc = mode === 'avg' ? 0 : -Infinity;
    for (let k = 0; k < area; k++) {
      const value = data[row * area + k]!;
      acc = mode === 'avg' ? acc + value : Math.max(acc, value);
    }
    out[row] = mode === 'avg' ? acc / area : acc;
  }
  return out;
}

/** Largest |a[i] − b[i]|, scaled down by max(1, |b[i]|) when `relative` (for fixtures with huge activations). */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>, relative = false): number {
  if (a.length !== b.length) throw new RangeError(`maxDiff: lengths ${a.length} and ${b.length} differ.`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i]! - b[i]!) / (relative ? Math.max(1, Math.abs(b[i]!)) : 1);
    if (Number.isNaN(diff)) return NaN;
    if (diff > worst) worst = diff;
  }
  return worst;
}

/** True when rows of a [rows × width] matrix are not all identical. */
export function rowsDiffer(data: ArrayLike<number>, rows: number): boolean {
  const width = data.length / rows;
  for (let row = 1; row < rows; row++) {
    for (let k = 0; k < width; k++) if (data[row * width + k] !== data[k]) return true;
  }
  return false;
}

/** Batch size the cut models are run at. */
export const BATCH = 8;

/** Runs the cut at batch 8 and checks it against `tensor` read from the full model (pooled/dequantized here). */
export async function crossCheck(full: ModelProto, cut: CutBackbone, options: {
  input: ort.Tensor;
  /** Batch the full model accepts: with 1, the rows in `referenceRows` are checked one by one. */
  fullBatch: number;
  /** @defaultValue `[0, BATCH - 1]` */
  referenceRows?: number[];
  relative?: boolean;
  tolerance?: number;
  dequantize?: { scale: number; zeroPoint: number };
}): Promise<Float32Array> {
  const features = (await runModel(cut.model, { [cut.inputName]: options.input })).features!;
  assert.equal(features.type, 'float32');
  assert.deepEqual(features.dims, [BATCH, cut.embeddingDim]);
  const cutData = features.data as Float32Array;
  assert.ok(rowsDiffer(cutData, BATCH), 'features depend on the input image');

  const probe = withExtraOutput(full, cut.featureTensor);
  const rows: number[] = [];
  const indices = options.fullBatch === 1 ? options.referenceRows ?? [0, BATCH - 1] : [...Array(BATCH).keys()];
  let reference: Float32Array;
  if (options.fullBatch === 1) {
    const parts: Float32Array[] = [];
    for (const i of indices) parts.push(await readFeatures(probe, cut, sliceBatch(options.input, i), options.dequantize));
    reference = concat(parts);
    for (const i of indices) rows.push(i);
  } else {
    reference = await readFeatures(probe, cut, options.input, options.dequantize);
    rows.push(...indices);
  }
  const width = cut.embeddingDim;
  const selected = concat(rows.map((row) => cutData.subarray(row * width, (row + 1) * width)));
  const diff = maxDiff(selected, reference, options.relative);
  assert.ok(diff <= (options.tolerance ?? 1e-5), `max ${options.relative ? 'relative' : 'abs'} diff ${diff}`);
  return cutData;
}

async function readFeatures(probe: ModelProto, cut: CutBackbone, input: ort.Tensor,
  dequantize?: { scale: number; zeroPoint: number }): Promise<Float32Array> {
  const tensor = (await runModel(probe, { [cut.inputName]: input }))[cut.featureTensor]!;
  let data: Float32Array = Float32Array.from(tensor.data as ArrayLike<number>);
  if (dequantize) for (let i = 0; i < data.length; i++) data[i] = (data[i]! - dequantize.zeroPoint) * dequantize.scale;
  if (cut.pooling === 'avg' || cut.pooling === 'max') data = poolSpatial(data, tensor.dims, cut.pooling);
  return data;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) { out.set(part, offset); offset += part.length; }
  return out;
}
