/**
 * Test fixtures for export: a minimal cut of the seeded test backbones (output `features` [N, D]), seeded random
 * heads, reference features computed with onnxruntime-node, and generated image folders.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { makeValueInfo, makeGraph, makeModel, makeNode } from '../../src/onnx/graph-builder.js';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import type { TestBackbone } from '../../src/onnx/test-backbones.js';
import type { DenseLayer, HeadWeights, PreprocessSpec } from '../../src/types.js';
import { uniformStream } from '../../src/util/rng.js';

/** The cut a training run makes: cutBackbone's model (output `features` [N, D]). */
export function cutTestBackbone(backbone: TestBackbone): ModelProto {
  return cutBackbone(backbone.model).model;
}

/** A tiny NHWC "backbone": image [N, size, size, 3] → Flatten → features [N, size·size·3]. */
export function flattenBackbone(size: number, opset = 13): ModelProto {
  const graph = makeGraph([makeNode('Flatten', ['pixels'], ['features'], { name: 'flatten' })],
    [makeValueInfo('pixels', 'float32', ['N', size, size, 3])], [makeValueInfo('features', 'float32', ['N', size * size * 3])]);
  return makeModel(graph, { opset });
}

/** Seeded uniform floats in [0, 1) (the project's mulberry32; seed 0 maps to 1). */
export function seededRandom(seed: number): () => number {
  return uniformStream(seed >>> 0 || 1);
}

/** A random head: optional hidden relu layer, with or without standardization fitted to nothing in particular. */
export function randomHead(embeddingDim: number, numClasses: number,
  options: { hidden?: number; seed?: number; standardize?: boolean; scale?: number } = {}): HeadWeights {
  const random = seededRandom(options.seed ?? 7);
  const scale = options.scale ?? 1;
  const layer = (inputDim: number, outputDim: number, activation: DenseLayer['activation']): DenseLayer => {
    const kernel = new Float32Array(inputDim * outputDim);
    const limit = scale * Math.sqrt(6 / (inputDim + outputDim));
    for (let i = 0; i < kernel.length; i++) kernel[i] = (2 * random() - 1) * limit;
    const bias = new Float32Array(outputDim);
    for (let i = 0; i < outputDim; i++) bias[i] = 0.1 * (2 * random() - 1);
    return { inputDim, outputDim, kernel, bias, activation };
  };
  const layers = options.hidden
    ? [layer(embeddingDim, options.hidden, 'relu'), layer(options.hidden, numClasses, 'linear')]
    : [layer(embeddingDim, numClasses, 'linear')];
  let standardization: HeadWeights['standardization'] = null;
  if (options.standardize ?? true) {
    const mean = new Float32Array(embeddingDim), std = new Float32Array(embeddingDim);
    for (let f = 0; f < embeddingDim; f++) {
      mean[f] = 0.5 * random();
      std[f] = 0.2 + random();
    }
    standardization = { mean, std };
  }
  return { embeddingDim, numClasses, layers, standardization };
}

/** Runs a model with one float input in onnxruntime-node; returns the named output. */
export async function runFloat(model: ModelProto, inputName: string, data: Float32Array, dims: number[], output: string):
  Promise<Float32Array> {
  const session = await ort.InferenceSession.create(encodeModel(model));
  const result = await session.run({ [inputName]: new ort.Tensor('float32', data, dims) }, [output]);
  await session.release();
  return result[output]!.data as Float32Array;
}

/** Runs an exported model and returns its three outputs. */
export async function runExported(model: ModelProto | Uint8Array, inputName: string, tensor: ort.Tensor):
  Promise<{ probabilities: Float32Array; label: string[]; labels: string[]; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(model instanceof Uint8Array ? model : encodeModel(model));
  const result = await session.run({ [inputName]: tensor });
  await session.release();
  return {
    probabilities: result['probabilities']!.data as Float32Array,
    dims: result['probabilities']!.dims,
    label: [...(result['label']!.data as string[])],
    labels: [...(result['labels']!.data as string[])],
  };
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

export function argmax(values: Float32Array, row: number, numClasses: number): number {
  let best = 0;
  for (let k = 1; k < numClasses; k++) if (values[row * numClasses + k]! > values[row * numClasses + best]!) best = k;
  return best;
}

export function randomPixels(count: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const pixels = new Uint8Array(count);
  for (let i = 0; i < count; i++) pixels[i] = Math.floor(random() * 256);
  return pixels;
}

/** A spec for the 32×32 test backbones that keeps images at their size (resize 32, crop 32). */
export function testSpec(overrides: Partial<PreprocessSpec> = {}): PreprocessSpec {
  return {
    resizeMode: 'direct', resizeSize: 32, resizeFilter: 'pil-bilinear', cropSize: 32, scale: 1 / 255,
    mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW', ...overrides,
  };
}

/**
 * Writes smooth random PNG images (so resizing is meaningful), `perClass` per class folder. Each class has its own
 * tint so that a head can tell them apart. Returns the paths in class order.
 */
export async function writeImageFolder(dir: string, classNames: readonly string[], perClass: number,
  options: { size?: number; seed?: number } = {}): Promise<string[]> {
  const size = options.size ?? 40;
  const random = seededRandom(options.seed ?? 3);
  const paths: string[] = [];
  for (let c = 0; c < classNames.length; c++) {
    await mkdir(join(dir, classNames[c]!), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const pixels = new Uint8Array(size * size * 3);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          for (let channel = 0; channel < 3; channel++) {
            const tint = channel === c % 3 ? 120 : 0;
            pixels[(y * size + x) * 3 + channel] = Math.min(255, Math.max(0, Math.floor(tint + 100 * random() + 30 * Math.sin((x + y * channel) / 5))));
          }
        }
      }
      const path = join(dir, classNames[c]!, `${classNames[c]}-${i}.png`);
      await sharp(Buffer.from(pixels), { raw: { width: size, height: size, channels: 3 } }).png().toFile(path);
      paths.push(path);
    }
  }
  return paths;
}

/**
 * A "backbone" whose features are the mean of each input channel: input [N, 3, size, size] → GlobalAveragePool →
 * Flatten → features [N, 3]. With {@link colorHead} it classifies the tinted images of {@link writeImageFolder}.
 */
export function colorBackbone(size: number, opset = 13): ModelProto {
  const graph = makeGraph([
    makeNode('GlobalAveragePool', ['input'], ['pooled'], { name: 'pool' }),
    makeNode('Flatten', ['pooled'], ['features'], { name: 'flatten' }),
  ], [makeValueInfo('input', 'float32', ['N', 3, size, size])], [makeValueInfo('features', 'float32', ['N', 3])]);
  return makeModel(graph, { opset });
}

/** Class k = the channel with the largest mean (red, green, blue). */
export function colorHead(): HeadWeights {
  const kernel = new Float32Array([8, 0, 0, 0, 8, 0, 0, 0, 8]);
  return {
    embeddingDim: 3, numClasses: 3, standardization: null,
    layers: [{ inputDim: 3, outputDim: 3, kernel, bias: new Float32Array(3), activation: 'linear' }],
  };
}
