/**
 * A tiny exported classifier for the serve tests, built with the project's own pieces: a seeded VGG-like
 * test backbone (32×32 input), cutBackbone, a seeded random head and exportClassifier. So the model has the
 * real export contract: input `image` uint8 [N, 32, 32, 3] (or the float input without baked preprocessing),
 * outputs `probabilities`, `label`, `labels`, and the class names and preprocessing in its metadata.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';
import { exportClassifier } from '../../src/export/export-classifier.js';
import { writeExportedModel } from '../../src/export/write-exported-model.js';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import { buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import type { HeadWeights, PreprocessSpec } from '../../src/types.js';
import { uniformStream } from '../../src/util/rng.js';

/** Seeded uniform floats in [0, 1) (the project's mulberry32; seed 0 maps to 1). */
export function seededRandom(seed: number): () => number {
  return uniformStream(seed >>> 0 || 1);
}

export interface TinyClassifierOptions {
  classNames: readonly string[];
  preprocess: PreprocessSpec;
  /** Bake preprocessing in (uint8 `image` input) or keep the float input. @defaultValue `true` */
  withPreprocessing?: boolean;
  /** @defaultValue `1` */
  seed?: number;
  /** Head weights are uniform in ±weightScale. @defaultValue `2` */
  weightScale?: number;
  /** Write the weights to `<path>.data` beside the model, as `--external-data` exports do. @defaultValue `false` */
  externalData?: boolean;
}

/** Writes the model to `path` and returns its bytes (the .onnx file's). The preprocess spec's cropSize must be 32. */
export async function writeTinyClassifier(path: string, options: TinyClassifierOptions): Promise<Uint8Array> {
  const seed = options.seed ?? 1;
  const backbone = buildVggBackbone({ inputSize: 32, seed, hiddenDim: 32 });
  const cut = cutBackbone(backbone.model);
  const random = seededRandom(seed + 100);
  const numClasses = options.classNames.length;
  const kernel = new Float32Array(cut.embeddingDim * numClasses);
  // Large weights so the probabilities are far from uniform and the top-1 is clear.
  for (let i = 0; i < kernel.length; i++) kernel[i] = (2 * random() - 1) * (options.weightScale ?? 2);
  const bias = new Float32Array(numClasses);
  for (let k = 0; k < numClasses; k++) bias[k] = 0.2 * (2 * random() - 1);
  const head: HeadWeights = {
    embeddingDim: cut.embeddingDim, numClasses, standardization: null,
    layers: [{ inputDim: cut.embeddingDim, outputDim: numClasses, kernel, bias, activation: 'linear' }],
  };
  const model = exportClassifier(cut.model, head, {
    classNames: options.classNames, preprocess: options.preprocess, withPreprocessing: options.withPreprocessing ?? true,
    backboneId: 'test-vgg',
  });
  if (options.externalData) {
    const written = await writeExportedModel(path, model, { externalData: true });
    if (written.externalData === null || written.externalData.sizeBytes === 0) throw new Error('no weights went to external data');
    return readFile(path);
  }
  const bytes = encodeModel(model);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return bytes;
}

/** A smooth, seeded RGB PNG of width × height (lossless, no colour profile: browsers decode the exact bytes). */
export async function writeTestImage(path: string, width: number, height: number, seed: number): Promise<void> {
  const random = seededRandom(seed);
  const phase = [random() * 6, random() * 6, random() * 6];
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let channel = 0; channel < 3; channel++) {
        const wave = 90 * Math.sin(x / (3 + channel) + phase[channel]!) + 60 * Math.cos(y / (4 + channel));
        pixels[(y * width + x) * 3 + channel] = Math.max(0, Math.min(255, Math.round(128 + wave + 30 * (random() - 0.5))));
      }
    }
  }
  await mkdir(dirname(path), { recursive: true });
  await sharp(Buffer.from(pixels), { raw: { width, height, channels: 3 } }).png().toFile(path);
}
