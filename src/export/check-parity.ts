/**
 * The parity check run after every export: the exported file must reproduce what training saw. It proves that with
 * work bounded by the model's size rather than the dataset's:
 * - each part export added is checked on its own: the baked preprocessing against the embedding stage's
 *   preprocessing, the class names against the run's, and the head against the trainer's probabilities on every
 *   cached feature vector (small models, cheap);
 * - the exported model's front is checked against the cached vectors it was trained on, and the whole model end to
 *   end, on a small sample of images covering the classes, in onnxruntime-node: one session of the full model, whose
 *   weights are read from the exported file itself;
 * - onnxruntime-web (WebAssembly, what a browser runs) checks the added parts too, and runs the full model end to end
 *   only while the model's size times the images fits a budget, saying so when it does not.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { FinetuneError } from '../errors.js';
import { preprocessImage } from '../image/preprocess-image.js';
import type { ModelProto } from '../onnx/proto.js';
import { inspectModel } from '../onnx/inspect-model.js';
import { decodeModel, loadExternalInitializers } from '../onnx/read-model.js';
import { referenceWeights } from '../onnx/stream-model.js';
import type { WeightLocation } from '../onnx/stream-model.js';
import { encodeModel } from '../onnx/write-model.js';
import { createSession } from '../runtime/session.js';
import { createWebSession } from '../runtime/web-session.js';
import type { ModelSession } from '../runtime/model-session.js';
import { argmaxRow } from '../train/metrics.js';
import type { Device, PreprocessSpec, ProgressCallback } from '../types.js';
import { stableStringify } from '../util/hash.js';
import { copyRows } from '../util/copy-rows.js';
import { classifyImages } from './classify-images.js';
import { loadImageBatch } from './image-batch.js';
import type { ClassifiedImages } from './classify-images.js';
import { EXPORT_NAMES, readExportedModelInfo } from './exported-model-format.js';
import type { ExportedModelInfo } from './exported-model-format.js';
import { buildParityProbes } from './parity-probes.js';
import type { ParityProbes } from './parity-probes.js';
import { externalDataName } from './write-exported-model.js';
import type { WrittenModel } from './write-exported-model.js';

export interface CheckParityOptions {
  /** The preprocessing the cached features were computed with; must equal the one stored in the model. */
  preprocess: PreprocessSpec;
  /** Whether the export baked preprocessing in (`image` uint8 input); checked against the model. */
  withPreprocessing: boolean;
  numClasses: number;
  /** The run's class names in index order; the model's metadata and `labels` output must equal them. @defaultValue not checked */
  classNames?: readonly string[];
  /**
   * The cached feature vectors of `images` [images × embeddingDim], which the head was trained on. With them the
   * head is checked on every image and the model's front on the sample. @defaultValue none: both are skipped
   */
  features?: Float32Array;
  /** Class index of each image, so that the sample covers the classes. @defaultValue the first images are the sample */
  labels?: ArrayLike<number>;
  /** Images run through the full model: one per class first, then more. @defaultValue numClasses, at least 4 and at most 8 */
  sampleSize?: number;
  /** Largest allowed |exported − expected| per probability (and per preprocessed value). @defaultValue `1e-4` */
  tolerance?: number;
  /** Largest allowed |front − cached| per feature, relative to the largest cached |feature| (at least 1). @defaultValue `1e-3` */
  featureTolerance?: number;
  /** Also check in onnxruntime-web's wasm backend. @defaultValue `true` */
  web?: boolean;
  /**
   * Single-threaded wasm is slow on large backbones (a VGG16 takes seconds per image), so onnxruntime-web runs the
   * full model end to end on as many sample images as its parameter bytes × images fit in this budget; with none,
   * only the added parts run there. @defaultValue `256 MiB`
   */
  webBudgetBytes?: number;
  /** Device for onnxruntime-node. @defaultValue `'cpu'` (the reference the trainer's float math is compared with) */
  device?: Device;
  /** Images per run. @defaultValue `16` */
  batchSize?: number;
  /** Throw ParityError (code PARITY_FAILED) when a check fails. @defaultValue `true` */
  throwOnMismatch?: boolean;
  onProgress?: ProgressCallback;
}

/** The model to check: a path, its bytes, or the files writeExportedModel wrote with the model they hold. */
export type ParityTarget = string | Uint8Array | { readonly written: WrittenModel; readonly model: ModelProto };

/** The result of one runtime's end-to-end comparison. */
export interface RuntimeParity {
  /** Images compared. */
  readonly n: number;
  readonly maxAbsDiff: number;
  /** Fraction of images whose top-1 class equals the trainer's (ties within the tolerance count as agreeing). */
  readonly argmaxAgreement: number;
  /** The image with the largest difference. */
  readonly worstPath: string | null;
  /** Whether the `label` output equals the class name at the argmax of `probabilities` for every image. */
  readonly labelOutputOk: boolean;
  readonly ok: boolean;
}

/** onnxruntime-web's end-to-end result, with the parts located against onnxruntime-node. */
export interface WebParity extends RuntimeParity {
  /** Max |web − node| of the baked preprocessing's output; null when the model takes float input. */
  readonly preprocessingMaxAbsDiff: number | null;
  /** Max |web − node| of the features: the backbone's own runtime difference. */
  readonly backboneMaxAbsDiff: number;
  /** Max |web probabilities − onnxruntime-node's head on the web features|. */
  readonly headMaxAbsDiff: number;
  /**
   * The backbone runs integer kernels, whose results differ between builds (x86 AVX2 u8s8 arithmetic saturates,
   * wasm's does not): then end-to-end web probabilities are reported but not required to be within the tolerance.
   */
  readonly quantizedBackbone: boolean;
}

/** One part of the exported model checked on its own in one runtime. */
export interface PartCheck {
  readonly part: 'preprocessing' | 'class-names' | 'head' | 'features' | 'end-to-end';
  readonly runtime: 'onnxruntime-node' | 'onnxruntime-web';
  /** Images (or cached vectors) compared; 0 when skipped. */
  readonly n: number;
  /** Largest difference found; null when not numeric, skipped or not finite. */
  readonly maxAbsDiff: number | null;
  /** Largest difference allowed; null when not numeric. */
  readonly tolerance: number | null;
  readonly ok: boolean;
  /** false when the part was not checked (see `detail`). */
  readonly checked: boolean;
  /** What was compared, what differs, or why it was skipped: one clause. */
  readonly detail: string;
}

export interface ParityReport {
  /** Images run end to end in onnxruntime-node (the sample). */
  readonly n: number;
  readonly numClasses: number;
  readonly tolerance: number;
  /** onnxruntime-node, end to end on the sample. */
  readonly maxAbsDiff: number;
  readonly argmaxAgreement: number;
  readonly nodeOk: boolean;
  readonly node: RuntimeParity;
  /**
   * onnxruntime-web: `ok` / `failed` when its checks ran, `skipped` when `web: false`, or `unsupported: <reason>` when the
   * wasm build cannot load the model (e.g. an operator it lacks). Unsupported does not fail the check.
   */
  readonly webStatus: 'ok' | 'failed' | 'skipped' | `unsupported: ${string}`;
  /** onnxruntime-web end to end; null when it did not run the full model. */
  readonly webMaxAbsDiff: number | null;
  readonly webOk: boolean | null;
  readonly web: WebParity | null;
  /** Every part checked, per runtime. */
  readonly checks: readonly PartCheck[];
  /** Every check passed (an unsupported web runtime does not count). */
  readonly ok: boolean;
  /** One line for the run summary: what was checked, on how many images. */
  readonly summary: string;
}

/** Thrown when parity fails; carries the report. Its message names the parts that differ. */
export class ParityError extends FinetuneError {
  constructor(readonly report: ParityReport) {
    const failed = report.checks.filter((check) => check.checked && !check.ok);
    super('PARITY_FAILED', `The exported model does not reproduce the trainer's predictions: ` +
      `${failed.map((check) => `${check.runtime}: ${check.detail}`).join('; ') || report.summary}.`,
      'This is a bug in export or a preprocessing mismatch between embedding and export; rerun with --verbose and report it.');
  }
}

const DEFAULT_WEB_BUDGET_BYTES = 256 * 2 ** 20;

/**
 * Checks an exported model against what training saw: `expected` is the trainer's probabilities on the cached
 * features of `images` [images.length × numClasses], `options.features` those features. See the file comment for
 * what is checked where. Images that cannot be decoded are an error here: they were decodable when cached.
 * @throws ParityError when a check fails (unless `throwOnMismatch: false`); FinetuneError PARITY_FAILED when the
 * model's metadata does not match the run (before running anything).
 */
export async function checkParity(target: ParityTarget, images: readonly string[], expected: Float32Array,
  options: CheckParityOptions): Promise<ParityReport> {
  const tolerance = options.tolerance ?? 1e-4;
  const { numClasses } = options;
  if (expected.length !== images.length * numClasses) {
    throw new RangeError(`checkParity: expected has ${expected.length} values, images × numClasses is ${images.length} × ${numClasses}.`);
  }
  if (!(tolerance >= 0)) throw new RangeError(`checkParity: 'tolerance' must be ≥ 0, got ${tolerance}.`);
  const embeddingDim = options.features ? options.features.length / Math.max(images.length, 1) : 0;
  if (options.features && !Number.isInteger(embeddingDim)) {
    throw new RangeError(`checkParity: features has ${options.features.length} values, not a multiple of ${images.length} images.`);
  }
  const progress = (message: string): void => options.onProgress?.({ stage: 'parity', status: 'message', message });
  const located = await locateModel(target);
  try {
    const info = await readExportedModelInfo(located.model);
    checkModelMatches(info, options);
    const built = buildParityProbes(located.model);
    // The head and the preprocessing run on their own, so they need their (small) weights in hand.
    const modelDir = dirname(located.path);
    const probes: ParityProbes = {
      ...built, head: loadExternalInitializers(built.head, modelDir),
      preprocessing: built.preprocessing && loadExternalInitializers(built.preprocessing, modelDir),
    };
    const sample = pickSample(images.length, options.labels, options.sampleSize ?? Math.min(8, Math.max(4, numClasses)));
    const samplePaths = sample.map((index) => images[index]!);
    const expectedSample = copyRows(expected, numClasses, sample);
    const checks: PartCheck[] = [];
    const batchSize = options.batchSize ?? 16;

    // 1. onnxruntime-node, the full model on the sample: end to end, its front and its preprocessing.
    progress(`onnxruntime-node: the full model on ${sample.length} images`);
    const nodeRun = await runProbe(probes, located, 'node', samplePaths, info, batchSize, options.device ?? 'cpu');
    const node = compare(nodeRun, expectedSample, info.classNames, tolerance);
    checks.push(endToEndCheck('onnxruntime-node', node, tolerance));
    const reference = probes.preprocessedTensor === null ? null : await referencePreprocessing(samplePaths, options.preprocess);
    if (reference !== null && probes.preprocessedTensor !== null) {
      checks.push(valueCheck('preprocessing', 'onnxruntime-node', nodeRun.extra[probes.preprocessedTensor]!, reference, samplePaths,
        tolerance, 'the baked preprocessing differs from the embedding stage\'s (check the mean, std and scale the model was exported with)',
        'the baked preprocessing'));
    }
    if (options.features) {
      const cached = copyRows(options.features, embeddingDim, sample);
      const scale = Math.max(1, maxAbs(cached));
      checks.push(valueCheck('features', 'onnxruntime-node', nodeRun.extra[probes.featureTensor]!, cached, samplePaths,
        (options.featureTolerance ?? 1e-3) * scale,
        'the backbone\'s features differ from the cached vectors the head was trained on (the cache was built with another backbone, cut or preprocessing)',
        'the backbone\'s features vs the cache'));
    } else {
      checks.push(skipped('features', 'onnxruntime-node', 'the backbone\'s features vs the cache: skipped (no cached features given)'));
    }

    // 2. onnxruntime-node, the head alone on every cached vector, and the class names.
    const headInput = options.features ?? nodeRun.extra[probes.featureTensor]!;
    const headExpected = options.features ? expected : expectedSample;
    const headRows = options.features ? images.length : sample.length;
    const headPaths = options.features ? images : samplePaths;
    const nodeHead = await runPart(probes.head, 'node', probes.featureTensor, headInput, headRows);
    checks.push(headCheck('onnxruntime-node', nodeHead, headExpected, headPaths, info.classNames, tolerance,
      options.features ? 'cached vectors' : 'sample features'));
    checks.push(classNamesCheck(info, nodeHead.classNamesOutput, options.classNames));

    // 3. onnxruntime-web: the added parts always, the full model within the budget.
    let web: WebParity | null = null;
    let webStatus: ParityReport['webStatus'] = 'skipped';
    if (options.web ?? true) {
      try {
        const webChecks: PartCheck[] = [];
        if (probes.preprocessing !== null && probes.preprocessedTensor !== null && reference !== null) {
          const webPreprocessed = await runPreprocessing(probes, samplePaths, info);
          webChecks.push(valueCheck('preprocessing', 'onnxruntime-web', webPreprocessed, reference, samplePaths, tolerance,
            'the baked preprocessing differs from the embedding stage\'s', 'the baked preprocessing'));
        }
        const webHead = await runPart(probes.head, 'web', probes.featureTensor, headInput, headRows);
        webChecks.push(headCheck('onnxruntime-web', webHead, headExpected, headPaths, info.classNames, tolerance,
          options.features ? 'cached vectors' : 'sample features'));
        const budget = options.webBudgetBytes ?? DEFAULT_WEB_BUDGET_BYTES;
        // Parameters, not file bytes: some models generate their weights (ConstantOfShape) and are tiny on disk.
        const parameterBytes = 4 * inspectModel(located.model).parameterCount;
        const webImages = Math.min(sample.length, Math.floor(budget / Math.max(parameterBytes, 1)));
        if (webImages > 0) {
          progress(`onnxruntime-web (wasm): the full model on ${webImages} images`);
          const webPaths = samplePaths.slice(0, webImages);
          const webRun = await runProbe(probes, located, 'web', webPaths, info, batchSize, 'cpu');
          const endToEnd = compare(webRun, expectedSample.subarray(0, webImages * numClasses), info.classNames, tolerance);
          const nodeFeatures = nodeRun.extra[probes.featureTensor]!.subarray(0, webImages * (nodeRun.extra[probes.featureTensor]!.length / sample.length));
          const headOnWebFeatures = await runPart(probes.head, 'node', probes.featureTensor, webRun.extra[probes.featureTensor]!, webImages);
          const preprocessingMaxAbsDiff = probes.preprocessedTensor
            ? maxAbsDifference(webRun.extra[probes.preprocessedTensor]!, nodeRun.extra[probes.preprocessedTensor]!.subarray(0, webRun.extra[probes.preprocessedTensor]!.length)) : null;
          const backboneMaxAbsDiff = maxAbsDifference(webRun.extra[probes.featureTensor]!, nodeFeatures);
          const headMaxAbsDiff = maxAbsDifference(webRun.probabilities, headOnWebFeatures.probabilities);
          // The backbone's own float kernels must agree; its integer kernels need not (see WebParity.quantizedBackbone).
          const ok = endToEnd.labelOutputOk && headMaxAbsDiff <= tolerance && (probes.quantizedBackbone || endToEnd.ok);
          web = { ...endToEnd, ok, preprocessingMaxAbsDiff, backboneMaxAbsDiff, headMaxAbsDiff, quantizedBackbone: probes.quantizedBackbone };
          webChecks.push({ ...endToEndCheck('onnxruntime-web', endToEnd, tolerance), ok,
            ...(probes.quantizedBackbone && !endToEnd.ok && ok ? { detail: `end to end on ${webImages} images: max |Δp| ${fmt(endToEnd.maxAbsDiff)}; ` +
              'the int8 backbone computes differently in wasm than in onnxruntime-node, the added preprocessing and head match' } : {}) });
        } else {
          webChecks.push(skipped('end-to-end', 'onnxruntime-web', `end to end skipped: the model has ${formatMb(parameterBytes)} of ` +
            `parameters, over the ${formatMb(budget)} budget (parameter bytes × images) for single-threaded WebAssembly`));
        }
        checks.push(...webChecks);
        webStatus = webChecks.every((check) => check.ok || !check.checked) ? 'ok' : 'failed';
      } catch (error) {
        if (!(error instanceof FinetuneError && error.code === 'RUNTIME_UNAVAILABLE')) throw error;
        webStatus = `unsupported: ${error.message}`;
      }
    }

    const ok = checks.every((check) => check.ok || !check.checked) && webStatus !== 'failed';
    const summary = summarize(checks, webStatus, tolerance);
    const report: ParityReport = {
      n: node.n, numClasses, tolerance, maxAbsDiff: node.maxAbsDiff, argmaxAgreement: node.argmaxAgreement,
      nodeOk: checks.filter((check) => check.runtime === 'onnxruntime-node').every((check) => check.ok || !check.checked), node,
      webStatus, webMaxAbsDiff: web?.maxAbsDiff ?? null, webOk: webStatus === 'ok' ? true : webStatus === 'failed' ? false : null,
      web, checks, ok, summary,
    };
    progress(summary);
    if (!ok && (options.throwOnMismatch ?? true)) throw new ParityError(report);
    return report;
  } finally {
    await located.cleanup();
  }
}

// #region the model on disk

interface LocatedModel {
  /** The model with its tensors (weights as views or external references). */
  readonly model: ModelProto;
  /** The model file; a probe written beside it reads the weights from it (and from its external data file). */
  readonly path: string;
  readonly weights: readonly WeightLocation[];
  cleanup(): Promise<void>;
}

/** The model's file and where its weights sit in it: given by writeExportedModel, or found by decoding the file. */
async function locateModel(target: ParityTarget): Promise<LocatedModel> {
  if (typeof target === 'object' && !(target instanceof Uint8Array)) {
    const { written, model } = target;
    return { model, path: written.path, weights: written.weights, cleanup: async () => undefined };
  }
  let path: string;
  let bytes: Uint8Array;
  let cleanup = async (): Promise<void> => undefined;
  if (typeof target === 'string') {
    path = target;
    bytes = await readFile(target);
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'finetune-parity-'));
    path = join(dir, 'model.onnx');
    bytes = target;
    await writeFile(path, bytes);
    cleanup = async () => rm(dir, { recursive: true, force: true });
  }
  // External tensors stay references (the probe, beside the model, reads them too); inline ones are views into `bytes`.
  const model = decodeModel(bytes, { externalData: 'keep', source: `"${path}"` });
  const weights: WeightLocation[] = [];
  for (const tensor of model.graph?.initializer ?? []) {
    const raw = tensor.raw_data;
    if (raw && raw.buffer === bytes.buffer) {
      weights.push({ name: tensor.name ?? '', file: 'model', offset: raw.byteOffset - bytes.byteOffset, length: raw.length });
    }
  }
  return { model, path, weights, cleanup };
}

/** The probe written beside the model (so that its references resolve), run on `paths`, then deleted. */
async function runProbe(probes: ParityProbes, located: LocatedModel, runtime: 'node' | 'web', paths: readonly string[],
  info: ExportedModelInfo, batchSize: number, device: Device): Promise<ClassifiedImages> {
  const dir = dirname(located.path);
  const modelName = basename(located.path);
  const probe = referenceWeights(probes.probe, located.weights, { model: modelName, external: externalDataName(located.path) });
  const extraOutputs = [probes.featureTensor, ...(probes.preprocessedTensor ? [probes.preprocessedTensor] : [])];
  let session: ModelSession;
  if (runtime === 'node') {
    await mkdir(dir, { recursive: true });
    const probePath = join(dir, `.${modelName}.probe-${process.pid}-${randomBytes(4).toString('hex')}.onnx`);
    await writeFile(probePath, encodeModel(probe));
    try {
      // Few images: prepacking the weights would cost more time and memory than it saves.
      session = await createSession(probePath, { device, disablePrepacking: true });
    } finally {
      await rm(probePath, { force: true });
    }
  } else {
    const files = new Set(probe.graph?.initializer.flatMap((tensor) => tensor.external_data.filter((entry) => entry.key === 'location')
      .map((entry) => entry.value ?? '')) ?? []);
    const externalData = await Promise.all([...files].map(async (file) => ({ path: file, data: await readFile(join(dir, file)) })));
    session = await createWebSession(encodeModel(probe), { externalData });
  }
  try {
    return await classifyImages(session, info, paths, { batchSize, failFast: true, extraOutputs });
  } finally {
    await session.release();
  }
}

/** A small part model (head or preprocessing) on a float input, in onnxruntime-node or -web. */
async function runPart(part: ModelProto, runtime: 'node' | 'web', inputName: string, input: Float32Array, rows: number):
  Promise<ClassifiedImages> {
  const bytes = encodeModel(part);
  const session = runtime === 'node' ? await createSession(bytes, { device: 'cpu' }) : await createWebSession(bytes);
  try {
    const outputs = await session.run({ [inputName]: { type: 'float32', dims: [rows, input.length / Math.max(rows, 1)], data: input } });
    const probabilities = outputs[EXPORT_NAMES.probabilities];
    const label = outputs[EXPORT_NAMES.label];
    const labels = outputs[EXPORT_NAMES.labels];
    if (probabilities?.type !== 'float32') throw new FinetuneError('INFERENCE_FAILED', 'The head returned no float32 probabilities.');
    return {
      paths: [], probabilities: probabilities.data, failed: [], extra: {},
      labels: label?.type === 'string' ? [...label.data] : null,
      classNamesOutput: labels?.type === 'string' ? [...labels.data] : null,
    };
  } finally {
    await session.release();
  }
}

/** The baked preprocessing alone in onnxruntime-web, on the decoded crops of `paths`. */
async function runPreprocessing(probes: ParityProbes, paths: readonly string[], info: ExportedModelInfo): Promise<Float32Array> {
  const session = await createWebSession(encodeModel(probes.preprocessing!));
  try {
    const batch = await loadImageBatch(info, paths, { failFast: true });
    const output = (await session.run({ [info.inputName]: batch.tensor }))[probes.preprocessedTensor!];
    if (output?.type !== 'float32') throw new FinetuneError('INFERENCE_FAILED', 'The baked preprocessing returned no float32 tensor.');
    return output.data;
  } finally {
    await session.release();
  }
}

/** The embedding stage's float input for `paths`: what the baked preprocessing must reproduce. */
async function referencePreprocessing(paths: readonly string[], spec: PreprocessSpec): Promise<Float32Array> {
  const perImage = 3 * spec.cropSize * spec.cropSize;
  const out = new Float32Array(paths.length * perImage);
  for (let index = 0; index < paths.length; index++) await preprocessImage(paths[index]!, spec, { out, outOffset: index * perImage });
  return out;
}

// #endregion

// #region comparisons

/** Up to `size` image indices, round-robin over the classes in order of first appearance (the first `size` without labels). */
export function pickSample(count: number, labels: ArrayLike<number> | undefined, size: number): number[] {
  const wanted = Math.min(count, Math.max(1, Math.floor(size)));
  if (!labels) return Array.from({ length: wanted }, (_, index) => index);
  const byClass = new Map<number, number[]>();
  for (let index = 0; index < count; index++) {
    const rows = byClass.get(labels[index]!) ?? [];
    rows.push(index);
    byClass.set(labels[index]!, rows);
  }
  const picked: number[] = [];
  for (let round = 0; picked.length < wanted; round++) {
    for (const rows of byClass.values()) if (round < rows.length && picked.length < wanted) picked.push(rows[round]!);
  }
  return picked.sort((a, b) => a - b);
}

function maxAbs(values: Float32Array): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]!));
  return max;
}

/** Max |a − b|; Infinity for NaN or a length mismatch. */
function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i]! - b[i]!);
    if (!(diff <= max)) max = Number.isNaN(diff) ? Infinity : diff;
  }
  return max;
}

/** Compares two [rows × width] tensors of one part; names the image with the largest difference when it fails. */
function valueCheck(part: PartCheck['part'], runtime: PartCheck['runtime'], actual: Float32Array, reference: Float32Array,
  paths: readonly string[], tolerance: number, failure: string, what: string): PartCheck {
  const width = reference.length / Math.max(paths.length, 1);
  let worst = 0, worstRow = 0;
  const max = actual.length === reference.length ? (() => {
    for (let row = 0; row < paths.length; row++) {
      const diff = maxAbsDifference(actual.subarray(row * width, (row + 1) * width), reference.subarray(row * width, (row + 1) * width));
      if (!(diff <= worst)) { worst = diff; worstRow = row; }
    }
    return worst;
  })() : Infinity;
  const ok = max <= tolerance;
  return {
    part, runtime, n: paths.length, maxAbsDiff: finiteOrNull(max), tolerance, ok, checked: true,
    detail: ok ? `${what} on ${paths.length} images: max |Δ| ${fmt(max)}`
      : `${failure}: max |Δ| ${fmt(max)} > ${fmt(tolerance)} on "${paths[worstRow] ?? ''}"`,
  };
}

function headCheck(runtime: PartCheck['runtime'], result: ClassifiedImages, expected: Float32Array, paths: readonly string[],
  classNames: readonly string[], tolerance: number, what: string): PartCheck {
  const numClasses = classNames.length;
  const max = maxAbsDifference(result.probabilities, expected);
  let worstRow = 0, worst = 0;
  for (let row = 0; row < paths.length && max !== Infinity; row++) {
    const diff = maxAbsDifference(result.probabilities.subarray(row * numClasses, (row + 1) * numClasses),
      expected.subarray(row * numClasses, (row + 1) * numClasses));
    if (diff > worst) { worst = diff; worstRow = row; }
  }
  const labelsOk = result.labels === null || result.labels.every((label, row) => label === classNames[argmaxRow(result.probabilities, row, numClasses)]);
  const ok = max <= tolerance && labelsOk;
  return {
    part: 'head', runtime, n: paths.length, maxAbsDiff: finiteOrNull(max), tolerance, ok, checked: true,
    detail: ok ? `the head on ${paths.length} ${what}: max |Δp| ${fmt(max)}`
      : !labelsOk ? 'the head\'s `label` output is not the class name at the argmax of its probabilities'
        : `the head's probabilities differ from the trainer's on the ${what}: max |Δp| ${fmt(max)} > ${fmt(tolerance)} on "${paths[worstRow] ?? ''}"`,
  };
}

function classNamesCheck(info: ExportedModelInfo, labelsOutput: readonly string[] | null, runClassNames: readonly string[] | undefined): PartCheck {
  const model = info.classNames;
  const list = (names: readonly string[]): string => `[${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''}]`;
  const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((name, index) => name === b[index]);
  let detail = `class names: ${model.length} in the run's order`;
  let ok = true;
  if (labelsOutput !== null && !same(labelsOutput, model)) {
    ok = false;
    detail = `the model's \`labels\` output ${list(labelsOutput)} differs from its class-name metadata ${list(model)}`;
  } else if (runClassNames !== undefined && !same(model, runClassNames)) {
    ok = false;
    const sameSet = model.length === runClassNames.length && model.every((name) => runClassNames.includes(name));
    detail = `${sameSet ? 'the class order differs' : 'the class names differ'}: the model has ${list(model)}, the run ${list(runClassNames)}`;
  } else if (runClassNames === undefined) {
    detail = `class names: ${model.length}, the \`labels\` output matches the metadata (the run's names were not given)`;
  }
  return { part: 'class-names', runtime: 'onnxruntime-node', n: model.length, maxAbsDiff: null, tolerance: null, ok, checked: true, detail };
}

function endToEndCheck(runtime: PartCheck['runtime'], parity: RuntimeParity, tolerance: number): PartCheck {
  const detail = parity.ok ? `end to end on ${parity.n} images: max |Δp| ${fmt(parity.maxAbsDiff)}, argmax agreement ${pct(parity.argmaxAgreement)}`
    : `end to end on ${parity.n} images: max |Δp| ${fmt(parity.maxAbsDiff)}${parity.maxAbsDiff > tolerance ? ` > ${fmt(tolerance)}` : ''}, ` +
      `argmax agreement ${pct(parity.argmaxAgreement)}${parity.labelOutputOk ? '' : ', `label` output disagrees with argmax'}` +
      `${parity.worstPath ? ` (worst "${parity.worstPath}")` : ''}`;
  return { part: 'end-to-end', runtime, n: parity.n, maxAbsDiff: finiteOrNull(parity.maxAbsDiff), tolerance, ok: parity.ok, checked: true, detail };
}

function skipped(part: PartCheck['part'], runtime: PartCheck['runtime'], detail: string): PartCheck {
  return { part, runtime, n: 0, maxAbsDiff: null, tolerance: null, ok: true, checked: false, detail };
}

function checkModelMatches(info: ExportedModelInfo, options: CheckParityOptions): void {
  const problems: string[] = [];
  if (info.classNames.length !== options.numClasses) problems.push(`it has ${info.classNames.length} classes, expected ${options.numClasses}`);
  const baked = info.inputType === 'uint8-image';
  if (info.inputType === 'features') problems.push('it is a head-only model (features input)');
  else if (baked !== options.withPreprocessing) {
    problems.push(`its input is ${info.inputType}, expected ${options.withPreprocessing ? 'uint8-image' : 'float'}`);
  }
  if (info.preprocess && stableStringify(info.preprocess) !== stableStringify(options.preprocess)) {
    problems.push('its preprocessing metadata differs from the spec the features were computed with');
  }
  if (problems.length > 0) {
    throw new FinetuneError('PARITY_FAILED', `The exported model does not match the training run: ${problems.join('; ')}.`,
      'Export again from the same run (same backbone, preprocessing and classes).');
  }
}

function compare(result: ClassifiedImages, expected: Float32Array, classNames: readonly string[], tolerance: number): RuntimeParity {
  const numClasses = classNames.length;
  const n = result.paths.length;
  let maxAbsDiff = 0;
  let worstPath: string | null = null;
  let agreeing = 0;
  let labelOutputOk = result.labels !== null && result.labels.length === n;
  if (result.classNamesOutput !== null && result.classNamesOutput.join('\u0000') !== classNames.join('\u0000')) labelOutputOk = false;
  for (let row = 0; row < n; row++) {
    const offset = row * numClasses;
    let rowMax = 0;
    for (let k = 0; k < numClasses; k++) {
      const diff = Math.abs(result.probabilities[offset + k]! - expected[offset + k]!);
      // NaN must fail, so compare with `>` negated.
      if (!(diff <= rowMax)) rowMax = Number.isNaN(diff) ? Infinity : diff;
    }
    if (worstPath === null || rowMax > maxAbsDiff) {
      maxAbsDiff = rowMax;
      worstPath = result.paths[row] ?? null;
    }
    const exported = argmaxRow(result.probabilities, row, numClasses);
    const reference = argmaxRow(expected, row, numClasses);
    // A near-tie in the reference may flip either way within the tolerance; that is not a disagreement.
    if (exported === reference || expected[offset + reference]! - expected[offset + exported]! <= 2 * tolerance) agreeing++;
    if (result.labels !== null && result.labels[row] !== classNames[exported]) labelOutputOk = false;
  }
  const argmaxAgreement = n === 0 ? 1 : agreeing / n;
  return {
    n, maxAbsDiff, argmaxAgreement, worstPath, labelOutputOk,
    ok: maxAbsDiff <= tolerance && argmaxAgreement === 1 && labelOutputOk,
  };
}

// #endregion

// #region summary

function summarize(checks: readonly PartCheck[], webStatus: ParityReport['webStatus'], tolerance: number): string {
  const runtimes: string[] = [];
  for (const runtime of ['onnxruntime-node', 'onnxruntime-web'] as const) {
    const ofRuntime = checks.filter((check) => check.runtime === runtime);
    if (ofRuntime.length === 0) continue;
    const name = runtime === 'onnxruntime-web' ? 'onnxruntime-web (wasm)' : runtime;
    runtimes.push(`${name}: ${ofRuntime.map((check) => `${check.detail}${check.checked && !check.ok ? ' (FAILED)' : ''}`).join(', ')}`);
  }
  if (webStatus === 'skipped') runtimes.push('onnxruntime-web: skipped');
  else if (webStatus.startsWith('unsupported')) runtimes.push(`onnxruntime-web: ${webStatus}`);
  return `${runtimes.join('; ')} (tolerance ${tolerance})`;
}

const fmt = (value: number): string => (Number.isFinite(value) ? value.toExponential(2) : String(value));
const pct = (fraction: number): string => `${(fraction * 100).toFixed(1)}%`;
const formatMb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`;
const finiteOrNull = (value: number): number | null => (Number.isFinite(value) ? value : null);

// #endregion
