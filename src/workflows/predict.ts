/**
 * `finetune predict`: classify image files with a model this tool exported. Everything needed (class names,
 * preprocessing, input layout) is read from the model file itself.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { FinetuneError } from '../errors.js';
import { classifyImages } from '../export/classify-images.js';
import type { ClassifiedImages } from '../export/classify-images.js';
import { readExportedModelInfo } from '../export/exported-model-format.js';
import type { ExportedModelInfo } from '../export/exported-model-format.js';
import { IMAGE_EXTENSIONS } from '../image/scan-dataset.js';
import { createSession } from '../runtime/session.js';
import type { Device, ProgressCallback } from '../types.js';

export interface PredictOptions {
  /** Classes listed per image, most probable first. @defaultValue `3` (capped at the number of classes) */
  top?: number;
  /** @defaultValue `'auto'` */
  device?: Device;
  /** Images per run (models with a fixed batch use theirs). @defaultValue `16` */
  batchSize?: number;
  /**
   * Test-time augmentation: `'flip'` averages the probabilities of each image and its horizontal mirror image.
   * The exported model stays single-view; this runs it twice. @defaultValue `'none'`
   */
  tta?: 'none' | 'flip';
  onProgress?: ProgressCallback;
}

export interface ClassProbability {
  readonly className: string;
  readonly probability: number;
}

export interface Prediction {
  readonly path: string;
  /** The `top` most probable classes, most probable first; empty when the image failed. */
  readonly top: readonly ClassProbability[];
  /** Why the image could not be classified (unreadable or undecodable), when it could not. */
  readonly error?: string;
}

/** The model, the session and the paths, shared by predict and evaluate. */
export interface ModelRun {
  readonly info: ExportedModelInfo;
  /** The class names in the model's `labels` output (or its metadata when it has no such output). */
  readonly classNames: readonly string[];
  readonly result: ClassifiedImages;
  /** Which onnxruntime-node provider ran the model. */
  readonly provider: string;
}

/**
 * Classifies images (files, or folders searched recursively for image files) with an exported model.
 * Returns one entry per image in input order (folders sorted by path); images that cannot be decoded get an
 * `error` and no classes.
 * @throws FinetuneError FILE_NOT_FOUND for inputs that do not exist or folders without images; MODEL_INVALID for a
 * model finetune did not export; INVALID_OPTION for a head-only model or a bad option.
 */
export async function predict(modelPath: string, inputs: readonly string[], options: PredictOptions = {}): Promise<Prediction[]> {
  const top = options.top ?? 3;
  if (!Number.isInteger(top) || top < 1) {
    throw new FinetuneError('INVALID_OPTION', `--top must be a whole number ≥ 1, got ${top}.`, 'Pass --top 3, for example.');
  }
  if (!['none', 'flip'].includes(options.tta ?? 'none')) {
    throw new FinetuneError('INVALID_OPTION', `Unknown test-time augmentation "${String(options.tta)}".`, 'Use --tta (flip averaging) or omit it.');
  }
  const paths = await collectImagePaths(inputs);
  const run = await runModelOnImages(modelPath, paths, options);
  const { classNames, result } = run;
  const k = Math.min(top, classNames.length);
  const byPath = new Map<string, Prediction>();
  result.paths.forEach((path, row) => {
    byPath.set(path, { path, top: topClasses(result.probabilities, row, classNames, k) });
  });
  for (const failure of result.failed) byPath.set(failure.path, { path: failure.path, top: [], error: failure.reason });
  return paths.map((path) => byPath.get(path)!);
}

/**
 * Loads an exported model and runs it over image paths. Fails before loading the runtime when the model is not a
 * finetune export or is head-only.
 */
export async function runModelOnImages(modelPath: string, paths: readonly string[],
  options: { device?: Device; batchSize?: number; tta?: 'none' | 'flip'; onProgress?: ProgressCallback } = {}): Promise<ModelRun> {
  const info = await readExportedModelInfo(modelPath);
  if (info.inputType === 'features') {
    throw new FinetuneError('INVALID_OPTION', `"${modelPath}" is a head-only model: it takes feature vectors, not images.`,
      'Use model.onnx from the run folder (backbone + head) to classify image files.');
  }
  const session = await createSession(modelPath, { device: options.device ?? 'auto' });
  try {
    const progress = options.onProgress;
    const result = await classifyImages(session, info, paths, {
      batchSize: options.batchSize ?? 16,
      tta: options.tta ?? 'none',
      ...(progress ? { onBatch: (done: number, total: number) => progress({ stage: 'info', status: 'message', message: `classified ${done}/${total} images` }) } : {}),
    });
    return { info, classNames: result.classNamesOutput ?? info.classNames, result, provider: session.provider };
  } finally {
    await session.release();
  }
}

/** The `k` most probable classes of one row, most probable first (lower index first on ties). */
function topClasses(probabilities: Float32Array, row: number, classNames: readonly string[], k: number): ClassProbability[] {
  const numClasses = classNames.length;
  const offset = row * numClasses;
  const order = Array.from({ length: numClasses }, (_, index) => index);
  order.sort((a, b) => probabilities[offset + b]! - probabilities[offset + a]! || a - b);
  return order.slice(0, k).map((index) => ({ className: classNames[index]!, probability: probabilities[offset + index]! }));
}

/**
 * Expands inputs into image paths: files are kept as given (resolved), folders are searched recursively for files
 * with an image extension (hidden entries skipped) and sorted. Missing inputs are collected and reported at once.
 */
export async function collectImagePaths(inputs: readonly string[]): Promise<string[]> {
  if (inputs.length === 0) {
    throw new FinetuneError('INVALID_OPTION', 'No images given.', 'Pass image files or folders: finetune predict model.onnx photo.jpg ./more-photos');
  }
  const missing: string[] = [];
  const emptyFolders: string[] = [];
  const paths: string[] = [];
  for (const input of inputs) {
    const absolute = resolve(input);
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(absolute)).isDirectory();
    } catch {
      missing.push(input);
      continue;
    }
    if (!isDirectory) {
      paths.push(absolute);
      continue;
    }
    const found = await listImages(absolute);
    if (found.length === 0) emptyFolders.push(input);
    paths.push(...found);
  }
  if (missing.length > 0) {
    throw new FinetuneError('FILE_NOT_FOUND', `No such file or folder: ${missing.map((path) => `"${path}"`).join(', ')}.`,
      'Check the paths; folders are searched recursively for images.');
  }
  if (paths.length === 0) {
    throw new FinetuneError('FILE_NOT_FOUND', `No images (${IMAGE_EXTENSIONS.join(', ')}) in ${emptyFolders.map((p) => `"${p}"`).join(', ')}.`,
      'Pass image files, or folders that contain some.');
  }
  return [...new Set(paths)];
}

async function listImages(folder: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && IMAGE_EXTENSIONS.includes(extname(entry.name).toLowerCase())) found.push(path);
    }
  };
  await walk(folder);
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface FormatPredictionsOptions {
  /** One JSON document instead of text lines. @defaultValue `false` */
  json?: boolean;
}

/**
 * Text for the CLI: one line per image, `path  class (97.1%)  other (2.3%)  …`, failures as `path  error: reason`;
 * or, with `json`, `[{ "path", "top": [{ "className", "probability" }], "error"? }]`.
 */
export function formatPredictions(predictions: readonly Prediction[], options: FormatPredictionsOptions = {}): string {
  if (options.json) return `${JSON.stringify(predictions, null, 2)}\n`;
  let text = '';
  for (const prediction of predictions) {
    const classes = prediction.error !== undefined ? `error: ${prediction.error}`
      : prediction.top.map((entry) => `${entry.className} (${formatPercent(entry.probability)})`).join('  ');
    text += `${prediction.path}  ${classes}\n`;
  }
  return text;
}

const formatPercent = (probability: number): string => `${(probability * 100).toFixed(1)}%`;
