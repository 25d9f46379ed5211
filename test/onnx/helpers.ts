/** Shared helpers for the ONNX tests: running models in onnxruntime-node and reading tensors out of them. */
import * as ort from 'onnxruntime-node';
import { makeValueInfo, opsetVersion } from '../../src/onnx/graph-builder.js';
import { inferShapes } from '../../src/onnx/infer-shapes.js';
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
