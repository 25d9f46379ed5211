/**
 * The only reader of run folders (report, serve, scripts). Every file is validated against the writer's types
 * (run-format.ts) through schemas typed as `Check<…>` of those types, so the two cannot drift apart silently.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FinetuneError } from '../errors.js';
import { CsvRecordReader } from '../image/csv-records.js';
import type { CsvRecord } from '../image/csv-records.js';
import { validateAugmentSpec } from '../image/augment.js';
import type { SkippedFile } from '../image/scan-dataset.js';
import { validatePreprocessSpec } from '../image/preprocess-spec.js';
import { POOLINGS } from '../types.js';
import type { ParityReport, PartCheck, RuntimeParity, WebParity } from '../export/check-parity.js';
import type { ReliabilityBin } from '../train/calibration.js';
import { METRIC_NAMES } from '../train/callbacks.js';
import { KERNEL_INITIALIZERS } from '../train/fit-options.js';
import type { ConfusionMatrix, EvaluationMetrics, SparseConfusionMatrix } from '../train/metrics.js';
import {
  anyObject, arrayOf, boolean, finiteNumber, integer, literal, nullable, numberOrNaN, object, optional, string, validated, via,
} from './check-json.js';
import { JsonShapeError } from './check-json.js';
import type { Check } from './check-json.js';
import { LABEL_ISSUE_COLUMNS, NEAR_DUPLICATE_COLUMNS, RUN_FILES, RUN_FORMAT_VERSION } from './run-format.js';
import type {
  AugmentationSummary, CalibrationSummary, CrossFitSummary, CrossValidationMetrics, ImageSplit, Interval, LabelIssueRow,
  NearDuplicateRow, RunFileKey, RunFiles, RunFolder, RunHistoryEntry, RunLabels, RunManifest, RunMetrics, TrainingSummary,
} from './run-format.js';

const NOT_A_RUN_HINT = 'Pass the folder written by `finetune --data <dir> --out <dir>` (it holds history.json, metrics.json and run.json).';

// #region schemas

const historyCheck: Check<RunHistoryEntry[]> = arrayOf(object({
  fold: optional(integer, undefined),
  epoch: integer,
  // JSON has no NaN: a diverged epoch's loss was written as null.
  loss: numberOrNaN,
  accuracy: numberOrNaN,
  valLoss: nullable(finiteNumber),
  valAccuracy: nullable(finiteNumber),
  learningRate: finiteNumber,
  seconds: finiteNumber,
}));

const labelsCheck: Check<RunLabels> = object({ classNames: arrayOf(string) });

const trainingFields = {
  epochs: integer,
  bestEpoch: nullable(integer),
  restoredEpoch: nullable(integer),
  keptEpoch: integer,
  stoppedEpoch: integer,
  stopReason: string,
  monitor: literal(...METRIC_NAMES),
  validationAccuracy: nullable(finiteNumber),
};
const trainingCheck: Check<TrainingSummary> = object(trainingFields);

const cellCheck: Check<readonly [number, number, number]> = (value, at) => {
  const cell = arrayOf(integer)(value, at);
  if (cell.length !== 3) throw new JsonShapeError(at, `expected [trueClass, predictedClass, count], found ${cell.length} numbers`);
  return [cell[0]!, cell[1]!, cell[2]!];
};
const sparseConfusionCheck: Check<SparseConfusionMatrix> = (value, at) => {
  const matrix = object({ encoding: literal('sparse'), numClasses: integer, cells: arrayOf(cellCheck) })(value, at);
  matrix.cells.forEach(([actual, predicted], index) => {
    if (!(actual >= 0 && actual < matrix.numClasses && predicted >= 0 && predicted < matrix.numClasses))
      throw new JsonShapeError(`${at}.cells[${index}]`, `class ${actual} or ${predicted} is outside 0..${matrix.numClasses - 1}`);
  });
  return matrix;
};
/** Dense `[[…], …]` (any format), or `{ encoding: 'sparse', … }` (format 3, above 100 classes). */
const confusionCheck: Check<ConfusionMatrix> = (value, at) =>
  Array.isArray(value) ? arrayOf(arrayOf(integer))(value, at) : sparseConfusionCheck(value, at);

const evaluationFields = {
  accuracy: finiteNumber,
  n: integer,
  perClass: arrayOf(object({ className: string, precision: finiteNumber, recall: finiteNumber, f1: finiteNumber, support: integer })),
  confusionMatrix: confusionCheck,
  mostConfidentlyWrong: arrayOf(object({ path: string, trueClass: string, predictedClass: string, probability: finiteNumber })),
};
const evaluationCheck: Check<EvaluationMetrics> = object(evaluationFields);

const intervalCheck: Check<Interval> = (value, at) => {
  const pair = arrayOf(finiteNumber)(value, at);
  if (pair.length !== 2) throw new JsonShapeError(at, `expected [low, high], found ${pair.length} numbers`);
  return [pair[0]!, pair[1]!];
};

const reliabilityCheck: Check<ReliabilityBin[]> = arrayOf(object({
  lower: finiteNumber, upper: finiteNumber, count: integer, accuracy: nullable(finiteNumber), confidence: nullable(finiteNumber),
}));

const calibrationCheck: Check<CalibrationSummary> = object({
  temperature: finiteNumber, eceBefore: finiteNumber, eceAfter: finiteNumber, nllBefore: finiteNumber, nllAfter: finiteNumber,
  reliabilityBefore: reliabilityCheck, reliabilityAfter: reliabilityCheck,
});

const kernelInitializerCheck = literal(...KERNEL_INITIALIZERS);

const crossFitCheck: Check<CrossFitSummary> = object({
  folds: integer, seed: integer, kernelInitializer: kernelInitializerCheck, cvLoss: finiteNumber,
  foldResults: arrayOf(object({
    ...trainingFields, fold: integer, seed: integer, trainCount: integer, heldOutCount: integer, heldOutLoss: numberOrNaN,
  })),
});

const crossValidationCheck: Check<CrossValidationMetrics> = object({
  ...evaluationFields,
  folds: integer,
  accuracyInterval: intervalCheck,
  perClassAccuracy: arrayOf(object({ className: string, accuracy: finiteNumber, interval: intervalCheck, support: integer })),
  calibration: calibrationCheck,
});

/** Keys added in format 4 are absent from older folders (and left out when null). */
const metricsCheck: Check<RunMetrics> = object({
  training: nullable(trainingCheck),
  crossFit: optional(nullable(crossFitCheck), null),
  crossValidation: optional(nullable(crossValidationCheck), null),
  validation: nullable(evaluationCheck),
  test: optional(nullable(evaluationCheck), null),
  testCalibration: optional(nullable(calibrationCheck), null),
  labelAudit: optional(nullable(object({ issues: integer, thresholds: arrayOf(nullable(finiteNumber)) })), null),
  nearDuplicates: optional(nullable(object({
    threshold: finiteNumber, clusters: integer, images: integer, crossSplitClusters: integer,
  })), null),
});

const runtimeParityFields = {
  n: integer, maxAbsDiff: finiteNumber, argmaxAgreement: finiteNumber, worstPath: nullable(string), labelOutputOk: boolean, ok: boolean,
};
const webStatusCheck: Check<ParityReport['webStatus']> = (value, at) =>
  typeof value === 'string' && value.startsWith('unsupported: ') ? value as `unsupported: ${string}` : literal('ok', 'failed', 'skipped')(value, at);
const runtimeParityCheck: Check<RuntimeParity> = object(runtimeParityFields);
const webParityCheck: Check<WebParity> = object({
  ...runtimeParityFields, preprocessingMaxAbsDiff: nullable(finiteNumber), backboneMaxAbsDiff: finiteNumber,
  headMaxAbsDiff: finiteNumber, quantizedBackbone: boolean,
});
const partCheck: Check<PartCheck> = object({
  part: literal('preprocessing', 'class-names', 'head', 'features', 'end-to-end'),
  runtime: literal('onnxruntime-node', 'onnxruntime-web'), n: integer, maxAbsDiff: nullable(finiteNumber),
  tolerance: nullable(finiteNumber), ok: boolean, checked: boolean, detail: string,
});
const parityCheck: Check<ParityReport> = object({
  n: integer, numClasses: integer, tolerance: finiteNumber, maxAbsDiff: finiteNumber, argmaxAgreement: finiteNumber,
  nodeOk: boolean, node: runtimeParityCheck, webStatus: webStatusCheck, webMaxAbsDiff: nullable(finiteNumber),
  webOk: nullable(boolean), web: nullable(webParityCheck), ok: boolean, summary: string,
  // Runs written before the parity check had parts have none listed.
  checks: optional(arrayOf(partCheck), []),
});

const augmentationCheck: Check<AugmentationSummary> = object({
  spec: via('an augmentation spec', validateAugmentSpec),
  specKey: string, description: string, views: integer, seed: integer, trainImages: integer, cacheHits: integer,
  computed: integer, failed: integer, variants: arrayOf(string), featureBytes: integer, seconds: finiteNumber,
});

const versionsCheck: Check<Readonly<Record<string, string | null>>> = (value, at) => {
  const record = anyObject(value, at);
  for (const [key, version] of Object.entries(record)) nullable(string)(version, `${at}.${key}`);
  return record as Readonly<Record<string, string | null>>;
};

const manifestCheck: Check<RunManifest> = object({
  formatVersion: optional(integer, 1),
  tool: object({ name: string, version: string }),
  createdAt: string,
  args: nullable(anyObject),
  data: object({
    source: string, kind: literal('folder', 'manifest'), classNames: arrayOf(string), images: integer, skipped: integer,
    fingerprint: string,
  }),
  backbone: object({
    id: string, sha256: string, path: string, featureTensor: string, embeddingDim: integer,
    pooling: literal(...POOLINGS), dequantized: boolean,
  }),
  preprocess: via('a preprocessing spec', validatePreprocessSpec),
  split: object({
    method: literal('stratified-hash-v1'), seed: integer, validationSplit: finiteNumber, trainCount: integer,
    validationCount: integer, classes: arrayOf(object({ className: string, train: integer, validation: integer })),
    validationSha256: string, validationFiles: arrayOf(string),
  }),
  hyperparameters: anyObject,
  augmentation: nullable(augmentationCheck),
  training: nullable(trainingCheck),
  crossFit: optional(nullable(object({
    folds: integer, foldSeeds: arrayOf(integer), kernelInitializer: kernelInitializerCheck, calibrate: boolean,
  })), null),
  export: nullable(object({ withPreprocessing: boolean, opset: nullable(integer), parity: nullable(parityCheck) })),
  timings: object({ embedSeconds: finiteNumber, trainSeconds: finiteNumber, exportSeconds: finiteNumber, totalSeconds: finiteNumber }),
  cache: object({ hits: integer, computed: integer, backboneBatches: integer, extractorKey: string, provider: nullable(string) }),
  versions: versionsCheck,
});

// #endregion

/**
 * Reads and validates a run folder written by any format version up to {@link RUN_FORMAT_VERSION}. A file that is
 * absent reads as null (a run that stopped early, an older folder); one that exists must be valid. At least one of
 * history.json, metrics.json and run.json must exist.
 * @throws FinetuneError FILE_NOT_FOUND when the folder or all of those files are missing, RUN_FORMAT_UNSUPPORTED when a
 *   newer finetune wrote it (naming the version it needs), RUN_INVALID naming the file and field that is malformed.
 */
export async function readRun(dir: string): Promise<RunFolder> {
  const root = resolve(dir);
  let isDirectory = false;
  try {
    isDirectory = (await stat(root)).isDirectory();
  } catch (cause) {
    throw new FinetuneError('FILE_NOT_FOUND', `Run folder "${dir}" does not exist.`, NOT_A_RUN_HINT, { cause });
  }
  if (!isDirectory) throw new FinetuneError('FILE_NOT_FOUND', `"${dir}" is a file, not a run folder.`, NOT_A_RUN_HINT);

  const pathOf = (key: RunFileKey): string => join(root, RUN_FILES[key]);
  const [manifestJson, historyJson, metricsJson, labelsJson, skippedText, labelIssuesText, nearDuplicatesText] = await Promise.all([
    readJsonIfPresent(pathOf('manifest')),
    readJsonIfPresent(pathOf('historyJson')),
    readJsonIfPresent(pathOf('metrics')),
    readJsonIfPresent(pathOf('labels')),
    readTextIfPresent(pathOf('skipped')),
    readTextIfPresent(pathOf('labelIssues')),
    readTextIfPresent(pathOf('nearDuplicates')),
  ]);
  if (historyJson === undefined && metricsJson === undefined && manifestJson === undefined)
    throw new FinetuneError('FILE_NOT_FOUND', `"${dir}" holds none of history.json, metrics.json and run.json.`, NOT_A_RUN_HINT);

  // The version decides how the other files are read, so it is checked first.
  const formatVersion = manifestJson === undefined ? RUN_FORMAT_VERSION : formatVersionOf(manifestJson, pathOf('manifest'));
  const parse = <T>(check: Check<T>, value: unknown, key: RunFileKey): T | null =>
    value === undefined ? null : validated(check, value, (error) => malformed(pathOf(key), error));

  const files: { -readonly [K in RunFileKey]?: string } = {};
  const present = await Promise.all((Object.keys(RUN_FILES) as RunFileKey[]).map(async (key) =>
    [key, await stat(pathOf(key)).then((info) => info.isFile(), () => false)] as const));
  for (const [key, isFile] of present) if (isFile) files[key] = pathOf(key);

  return {
    dir: root,
    formatVersion,
    manifest: parse(manifestCheck, manifestJson, 'manifest'),
    labels: parse(labelsCheck, labelsJson, 'labels'),
    history: parse(historyCheck, historyJson, 'historyJson'),
    metrics: parse(metricsCheck, metricsJson, 'metrics'),
    skipped: skippedText === undefined ? null : parseSkipped(skippedText),
    labelIssues: labelIssuesText === undefined ? null : parseCsvFile(labelIssuesText, pathOf('labelIssues'), LABEL_ISSUE_COLUMNS,
      (cells, at): LabelIssueRow => ({
        path: cells[0]!, givenClass: cells[1]!, suggestedClass: cells[2]!,
        givenProbability: csvNumber(cells[3]!, `${at}, givenProbability`), suggestedProbability: csvNumber(cells[4]!, `${at}, suggestedProbability`),
      })),
    nearDuplicates: nearDuplicatesText === undefined ? null : parseCsvFile(nearDuplicatesText, pathOf('nearDuplicates'), NEAR_DUPLICATE_COLUMNS,
      (cells, at): NearDuplicateRow => ({
        cluster: validated(integer, Number(cells[0]), () => new JsonShapeError(`${at}, cluster`, `expected an integer, found "${cells[0]}"`)),
        split: validated(literal<ImageSplit>('train', 'validation', 'test'), cells[1], (error) => new JsonShapeError(`${at}, split`, error.problem)),
        path: cells[2]!,
      })),
    files: files satisfies RunFiles,
  };
}

function formatVersionOf(manifestJson: unknown, path: string): number {
  const version = validated(object({ formatVersion: optional(integer, 1) }), manifestJson, (error) => malformed(path, error)).formatVersion;
  if (version > RUN_FORMAT_VERSION) {
    throw new FinetuneError('RUN_FORMAT_UNSUPPORTED',
      `"${path}" has run folder format ${version}; this finetune reads formats 1 to ${RUN_FORMAT_VERSION}.`,
      `Upgrade finetune to a version that reads run format ${version}, or re-run the training with this version.`);
  }
  if (version < 1) throw malformed(path, { message: `formatVersion ${version} is not a format version (1 or more)` });
  return version;
}

/** skipped.txt: `path<TAB>reason` lines; `#` lines are comments; a path written as a JSON string is decoded. */
export function parseSkipped(text: string): SkippedFile[] {
  const skipped: SkippedFile[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const tab = line.indexOf('\t');
    const rawPath = tab === -1 ? line : line.slice(0, tab);
    let path = rawPath;
    if (rawPath.startsWith('"')) {
      try {
        path = JSON.parse(rawPath) as string;
      } catch {
        path = rawPath;   // a hand-edited line: keep it as written
      }
    }
    skipped.push({ path, reason: tab === -1 ? '' : line.slice(tab + 1) });
  }
  return skipped;
}

function csvNumber(cell: string, at: string): number {
  const value = Number(cell);
  if (cell.trim() === '' || !Number.isFinite(value)) throw new JsonShapeError(at, `expected a number, found "${cell}"`);
  return value;
}

/** Rows of a CSV file with a header line of exactly `columns`, each turned into a record by `parse`. */
function parseCsvFile<T>(text: string, path: string, columns: readonly string[], parse: (cells: readonly string[], at: string) => T): T[] {
  const records: CsvRecord[] = [];
  const reader = new CsvRecordReader({ maxCellChars: Number.MAX_SAFE_INTEGER, maxRecordChars: Number.MAX_SAFE_INTEGER }, (record) => records.push(record));
  reader.push(text);
  reader.end();
  const [header, ...rows] = records;
  try {
    if (header === undefined || header.cells.join(',') !== columns.join(','))
      throw new JsonShapeError('line 1', `expected the header ${columns.join(',')}`);
    return rows.map((record) => {
      const at = `line ${record.line}`;
      if (record.cells.length !== columns.length) throw new JsonShapeError(at, `expected ${columns.length} cells, found ${record.cells.length}`);
      return parse(record.cells, at);
    });
  } catch (error) {
    if (error instanceof JsonShapeError) throw malformed(path, error);
    throw error;
  }
}

async function readTextIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FinetuneError('FILE_NOT_FOUND', `Cannot read "${path}".`, 'Check the file permissions.', { cause: error });
  }
}

async function readJsonIfPresent(path: string): Promise<unknown> {
  const text = await readTextIfPresent(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw malformed(path, { message: `it is not valid JSON (${(cause as Error).message})` }, cause);
  }
}

function malformed(path: string, problem: Pick<JsonShapeError, 'message'>, cause?: unknown): FinetuneError {
  return new FinetuneError('RUN_INVALID', `"${path}" is not a valid run file: ${problem.message}.`,
    'Run the training again to rewrite the run folder, or delete the damaged file to leave its section out of the report.',
    { cause: cause ?? problem });
}
