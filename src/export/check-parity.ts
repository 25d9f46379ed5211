/**
 * The parity check run after every export: the exported file, fed the original image files, must reproduce the
 * trainer's probabilities (computed on the cached features) in onnxruntime-node and in onnxruntime-web's
 * WebAssembly backend.
 */
import { readFile } from 'node:fs/promises';
import { FinetuneError } from '../errors.js';
import { decodeModel } from '../onnx/read-model.js';
import { createSession } from '../runtime/session.js';
import { createWebSession } from '../runtime/web-session.js';
import type { ModelSession } from '../runtime/model-session.js';
import type { Device, PreprocessSpec, ProgressCallback } from '../types.js';
import { stableStringify } from '../util/hash.js';
import { argmaxRow } from '../train/metrics.js';
import { classifyImages } from './classify-images.js';
import type { ClassifiedImages } from './classify-images.js';
import { buildParityProbes } from './parity-probes.js';
import { readExportedModelInfo } from './exported-model-format.js';
import type { ExportedModelInfo } from './exported-model-format.js';

export interface CheckParityOptions {
  /** The preprocessing the cached features were computed with; must equal the one stored in the model. */
  preprocess: PreprocessSpec;
  /** Whether the export baked preprocessing in (`image` uint8 input); checked against the model. */
  withPreprocessing: boolean;
  numClasses: number;
  /** Largest allowed |exported − expected| per probability. @defaultValue `1e-4` */
  tolerance?: number;
  /** Also run onnxruntime-web's wasm backend in Node. @defaultValue `true` */
  web?: boolean;
  /**
   * Images run through onnxruntime-web (the first ones). Single-threaded wasm is slow on large backbones
   * (a VGG16 takes seconds per image), so the web check uses a sample. @defaultValue `32`
   */
  webMaxImages?: number;
  /** Device for onnxruntime-node. @defaultValue `'cpu'` (the reference the trainer's float math is compared with) */
  device?: Device;
  /** Images per run. @defaultValue `16` */
  batchSize?: number;
  /** Throw ParityError (code PARITY_FAILED) when a check fails. @defaultValue `true` */
  throwOnMismatch?: boolean;
  onProgress?: ProgressCallback;
}

/** The result of one runtime's comparison. */
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

/**
 * onnxruntime-web's result, located: the exported model's added parts are checked on their own (preprocessing
 * output against onnxruntime-node's, the head against onnxruntime-node's head on the web features), so that a
 * quantized backbone's runtime-dependent integer arithmetic does not hide or fake an export bug.
 */
export interface WebParity extends RuntimeParity {
  /** Max |web − node| of the baked preprocessing's output; null when the model takes float input. */
  readonly preprocessingMaxAbsDiff: number | null;
  /** Max |web − node| of the features: the backbone's own runtime difference. */
  readonly backboneMaxAbsDiff: number;
  /** Max |web probabilities − onnxruntime-node's head on the web features|. */
  readonly headMaxAbsDiff: number;
  /**
   * The backbone runs integer kernels, whose results differ between builds (x86 AVX2 u8s8 arithmetic saturates,
   * wasm's does not): then end-to-end web probabilities are reported (`maxAbsDiff`, `argmaxAgreement`) but not
   * required to be within the tolerance.
   */
  readonly quantizedBackbone: boolean;
}

export interface ParityReport {
  /** Images compared in onnxruntime-node. */
  readonly n: number;
  readonly numClasses: number;
  readonly tolerance: number;
  /** onnxruntime-node, every image. */
  readonly maxAbsDiff: number;
  readonly argmaxAgreement: number;
  readonly nodeOk: boolean;
  readonly node: RuntimeParity;
  /**
   * onnxruntime-web: `ok` / `failed` when it ran, `skipped` when `web: false`, or `unsupported: <reason>` when the
   * wasm build cannot load the model (e.g. an operator it lacks). Unsupported does not fail the check.
   */
  readonly webStatus: 'ok' | 'failed' | 'skipped' | `unsupported: ${string}`;
  readonly webMaxAbsDiff: number | null;
  readonly webOk: boolean | null;
  readonly web: WebParity | null;
  /** nodeOk and web not failed. */
  readonly ok: boolean;
  /** One line for the run summary. */
  readonly summary: string;
}

/** Thrown when parity fails; carries the report. */
export class ParityError extends FinetuneError {
  constructor(readonly report: ParityReport) {
    super('PARITY_FAILED', `The exported model does not reproduce the trainer's predictions: ${report.summary}.`,
      'This is a bug in export or a preprocessing mismatch between embedding and export; rerun with --verbose and report it.');
  }
}

/**
 * Runs the exported model on the original image files through onnxruntime-node (all images) and
 * onnxruntime-web's wasm backend (up to `webMaxImages`), and compares with `expected`, the trainer's
 * probabilities [images.length × numClasses] on the cached features: max abs diff ≤ tolerance and the same argmax,
 * and the `label` output equal to the class name at the argmax.
 *
 * In onnxruntime-web the preprocessing output and the head are also checked on their own against
 * onnxruntime-node (see {@link WebParity}); for a quantized backbone only those are required, since integer
 * kernels differ between runtime builds. A model onnxruntime-web cannot load is reported as
 * `unsupported: <reason>` without failing.
 * Images that cannot be decoded are an error here: they were decodable when their features were cached.
 */
export async function checkParity(model: string | Uint8Array, images: readonly string[], expected: Float32Array,
  options: CheckParityOptions): Promise<ParityReport> {
  const tolerance = options.tolerance ?? 1e-4;
  const numClasses = options.numClasses;
  if (expected.length !== images.length * numClasses) {
    throw new RangeError(`checkParity: expected has ${expected.length} values, images × numClasses is ${images.length} × ${numClasses}.`);
  }
  if (!(tolerance >= 0)) throw new RangeError(`checkParity: 'tolerance' must be ≥ 0, got ${tolerance}.`);
  const bytes = typeof model === 'string' ? await readFile(model) : model;
  const info = await readExportedModelInfo(bytes);
  checkModelMatches(info, options);
  const progress = (message: string): void => options.onProgress?.({ stage: 'parity', status: 'message', message });
  const classify = async (session: ModelSession, paths: readonly string[]): Promise<ClassifiedImages> =>
    classifyImages(session, info, paths, { batchSize: options.batchSize ?? 16, failFast: true });

  progress(`onnxruntime-node: running ${images.length} images`);
  const nodeSession = await createSession(bytes, { device: options.device ?? 'cpu' });
  let nodeResult: ClassifiedImages;
  try {
    nodeResult = await classify(nodeSession, images);
  } finally {
    await nodeSession.release();
  }
  const node = compare(nodeResult, expected, info.classNames, tolerance);

  let web: WebParity | null = null;
  let webStatus: ParityReport['webStatus'] = 'skipped';
  if (options.web ?? true) {
    const count = Math.min(images.length, options.webMaxImages ?? 32);
    progress(`onnxruntime-web (wasm): running ${count} images`);
    const probes = buildParityProbes(decodeModel(bytes));
    let webSession: ModelSession | null = null;
    try {
      webSession = await createWebSession(probes.probeModel);
    } catch (error) {
      if (!(error instanceof FinetuneError && error.code === 'RUNTIME_UNAVAILABLE')) throw error;
      webStatus = `unsupported: ${error.message}`;
    }
    if (webSession !== null) {
      const sample = images.slice(0, count);
      const extraOutputs = [probes.featureTensor, ...(probes.preprocessedTensor ? [probes.preprocessedTensor] : [])];
      let webResult: ClassifiedImages;
      try {
        webResult = await classifyImages(webSession, info, sample, { batchSize: options.batchSize ?? 16, failFast: true, extraOutputs });
      } finally {
        await webSession.release();
      }
      const probeSession = await createSession(probes.probeModel, { device: 'cpu' });
      let nodeProbe: ClassifiedImages;
      try {
        nodeProbe = await classifyImages(probeSession, info, sample, { batchSize: options.batchSize ?? 16, failFast: true, extraOutputs });
      } finally {
        await probeSession.release();
      }
      const headOnWebFeatures = await runHead(probes.headModel, probes.featureTensor, webResult.extra[probes.featureTensor]!, webResult.paths.length);
      const endToEnd = compare(webResult, expected.subarray(0, count * numClasses), info.classNames, tolerance);
      const preprocessingMaxAbsDiff = probes.preprocessedTensor
        ? maxAbsDifference(webResult.extra[probes.preprocessedTensor]!, nodeProbe.extra[probes.preprocessedTensor]!) : null;
      const backboneMaxAbsDiff = maxAbsDifference(webResult.extra[probes.featureTensor]!, nodeProbe.extra[probes.featureTensor]!);
      const headMaxAbsDiff = maxAbsDifference(webResult.probabilities, headOnWebFeatures);
      // What export adds must match exactly; the backbone's own float kernels must too, its integer kernels need not.
      const ok = (preprocessingMaxAbsDiff === null || preprocessingMaxAbsDiff <= tolerance) && headMaxAbsDiff <= tolerance &&
        endToEnd.labelOutputOk && (probes.quantizedBackbone || endToEnd.ok);
      web = { ...endToEnd, ok, preprocessingMaxAbsDiff, backboneMaxAbsDiff, headMaxAbsDiff, quantizedBackbone: probes.quantizedBackbone };
      webStatus = ok ? 'ok' : 'failed';
    }
  }
  const ok = node.ok && webStatus !== 'failed';
  const format = (parity: RuntimeParity): string =>
    `max |Δp| ${parity.maxAbsDiff.toExponential(2)}, argmax agreement ${(parity.argmaxAgreement * 100).toFixed(1)}%` +
    (parity.labelOutputOk ? '' : ', `label` output disagrees with argmax');
  const summary = `onnxruntime-node on ${node.n} images: ${format(node)}${node.ok ? '' : ' (FAILED)'}; ` +
    (web ? `onnxruntime-web on ${web.n} images: ${format(web)}${describeWeb(web, tolerance)}${web.ok ? '' : ' (FAILED)'}`
      : `onnxruntime-web: ${webStatus}`) +
    ` (tolerance ${tolerance})`;
  const report: ParityReport = {
    n: node.n, numClasses, tolerance, maxAbsDiff: node.maxAbsDiff, argmaxAgreement: node.argmaxAgreement, nodeOk: node.ok, node,
    webStatus, webMaxAbsDiff: web?.maxAbsDiff ?? null, webOk: web === null ? null : web.ok, web, ok, summary,
  };
  progress(summary);
  if (!ok && (options.throwOnMismatch ?? true)) throw new ParityError(report);
  return report;
}

function describeWeb(web: WebParity, tolerance: number): string {
  const parts = [`head max |Δp| ${web.headMaxAbsDiff.toExponential(2)}`, `features max |Δ| ${web.backboneMaxAbsDiff.toExponential(2)}`];
  if (web.preprocessingMaxAbsDiff !== null) parts.unshift(`preprocessing max |Δ| ${web.preprocessingMaxAbsDiff.toExponential(2)}`);
  const note = web.quantizedBackbone && web.maxAbsDiff > tolerance
    ? '; the int8 backbone computes differently in wasm than in onnxruntime-node, the added preprocessing and head match' : '';
  return ` (${parts.join(', ')}${note})`;
}

async function runHead(headModel: Uint8Array, featureTensor: string, features: Float32Array, n: number): Promise<Float32Array> {
  const session = await createSession(headModel, { device: 'cpu' });
  try {
    const outputs = await session.runFloat(featureTensor, features, [n, features.length / Math.max(n, 1)], { outputNames: ['probabilities'] });
    return outputs['probabilities']!.data;
  } finally {
    await session.release();
  }
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i]! - b[i]!);
    if (!(diff <= max)) max = Number.isNaN(diff) ? Infinity : diff;
  }
  return max;
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
