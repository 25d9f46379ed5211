/**
 * Reads a run folder into {@link ReportData}: history.json, metrics.json, run.json, labels.json and
 * skipped.txt, and makes base64 thumbnails of the most confidently wrong images with sharp.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import sharp from 'sharp';
import { FinetuneError } from '../errors.js';
import type {
  HistoryEntry, ReportData, RunManifest, RunMetrics, SkippedFile, SplitMetrics, Thumbnail, WrongPrediction,
} from './report-data.js';

export interface ReadRunDataOptions {
  /** Longest side of each thumbnail, in pixels. @defaultValue `96` */
  thumbnailSize?: number;
  /** Most thumbnails made per split (validation, test). @defaultValue `16` */
  maxThumbnails?: number;
}

const NOT_A_RUN_HINT = 'Pass the folder written by `finetune <data> --out <dir>` (it holds history.json, metrics.json and run.json).';

/**
 * Reads a run folder. At least one of history.json, metrics.json and run.json must exist; every file that
 * exists must be valid. Thumbnails that cannot be made (image moved or unreadable) carry the reason instead.
 * @throws FinetuneError FILE_NOT_FOUND when the folder or all its run files are missing,
 *   INVALID_OPTION when a run file is malformed.
 */
export async function readRunData(runDir: string, options: ReadRunDataOptions = {}): Promise<ReportData> {
  const thumbnailSize = options.thumbnailSize ?? 96;
  const maxThumbnails = options.maxThumbnails ?? 16;
  if (!Number.isInteger(thumbnailSize) || thumbnailSize < 8 || thumbnailSize > 1024)
    throw new RangeError(`readRunData: 'thumbnailSize' must be an integer in [8, 1024], got ${thumbnailSize}.`);
  if (!Number.isInteger(maxThumbnails) || maxThumbnails < 0)
    throw new RangeError(`readRunData: 'maxThumbnails' must be a non-negative integer, got ${maxThumbnails}.`);

  const dir = resolve(runDir);
  let isDirectory = false;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (cause) {
    throw new FinetuneError('FILE_NOT_FOUND', `Run folder "${runDir}" does not exist.`, NOT_A_RUN_HINT, { cause });
  }
  if (!isDirectory) throw new FinetuneError('FILE_NOT_FOUND', `"${runDir}" is a file, not a run folder.`, NOT_A_RUN_HINT);

  const [historyJson, metricsJson, manifestJson, labelsJson, skippedText] = await Promise.all([
    readJsonIfPresent(join(dir, 'history.json')),
    readJsonIfPresent(join(dir, 'metrics.json')),
    readJsonIfPresent(join(dir, 'run.json')),
    readJsonIfPresent(join(dir, 'labels.json')),
    readTextIfPresent(join(dir, 'skipped.txt')),
  ]);
  if (historyJson === undefined && metricsJson === undefined && manifestJson === undefined)
    throw new FinetuneError('FILE_NOT_FOUND', `"${runDir}" holds none of history.json, metrics.json and run.json.`, NOT_A_RUN_HINT);

  const history = historyJson === undefined ? [] : parseHistory(historyJson, join(dir, 'history.json'));
  const metrics = metricsJson === undefined ? undefined : parseMetrics(metricsJson, join(dir, 'metrics.json'));
  const manifest = manifestJson === undefined ? undefined : parseObject(manifestJson, join(dir, 'run.json')) as RunManifest;
  const skipped = skippedText === undefined ? undefined : parseSkipped(skippedText);
  const classNames = classNamesFrom(labelsJson, metrics, join(dir, 'labels.json'));

  const thumbnails: Record<string, Thumbnail> = {};
  for (const split of [metrics?.validation, metrics?.test]) {
    for (const wrong of (split?.mostConfidentlyWrong ?? []).slice(0, maxThumbnails)) {
      if (thumbnails[wrong.path] === undefined) {
        thumbnails[wrong.path] = await makeThumbnail(isAbsolute(wrong.path) ? wrong.path : join(dir, wrong.path), thumbnailSize);
      }
    }
  }

  return {
    title: basename(dir),
    runDir: dir,
    classNames,
    history,
    ...(metrics ? { metrics } : {}),
    ...(manifest ? { manifest } : {}),
    ...(skipped ? { skipped } : {}),
    thumbnails,
  };
}

/** A JPEG thumbnail (EXIF orientation applied, transparency over white) no larger than `size` × `size`. */
export async function makeThumbnail(path: string, size: number): Promise<Thumbnail> {
  try {
    const { data, info } = await sharp(path)
      .rotate()
      .resize(size, size, { fit: 'inside', withoutEnlargement: false })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 82 })
      .toBuffer({ resolveWithObject: true });
    return { ok: true, dataUri: `data:image/jpeg;base64,${data.toString('base64')}`, width: info.width, height: info.height };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = error instanceof Error ? error.message : String(error);
    const reason = code === 'ENOENT' || /missing|does not exist|no such file/i.test(message)
      ? 'image not found' : `unreadable image (${message.split('\n')[0]})`;
    return { ok: false, reason };
  }
}

// #region parsing

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
    throw malformed(path, `it is not valid JSON (${(cause as Error).message})`, cause);
  }
}

function malformed(path: string, problem: string, cause?: unknown): FinetuneError {
  return new FinetuneError('INVALID_OPTION', `"${path}" is not a valid run file: ${problem}.`,
    'Run `finetune` again to rewrite the run folder, or delete the damaged file to leave its section out.',
    cause === undefined ? undefined : { cause });
}

function parseObject(value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw malformed(path, `expected a JSON object, found ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
  return value as Record<string, unknown>;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function optionalNumber(value: unknown): number | null {
  return isNumber(value) ? value : null;
}

function parseHistory(value: unknown, path: string): HistoryEntry[] {
  if (!Array.isArray(value)) throw malformed(path, 'expected an array of epochs');
  return value.map((item: unknown, index): HistoryEntry => {
    const entry = parseObject(item, path);
    if (!isNumber(entry.epoch)) throw malformed(path, `entry ${index} has no numeric "epoch"`);
    // loss/accuracy can be NaN-like (null) after divergence; the chart leaves a gap for them.
    return {
      epoch: entry.epoch,
      loss: isNumber(entry.loss) ? entry.loss : Number.NaN,
      accuracy: isNumber(entry.accuracy) ? entry.accuracy : Number.NaN,
      valLoss: optionalNumber(entry.valLoss),
      valAccuracy: optionalNumber(entry.valAccuracy),
      learningRate: optionalNumber(entry.learningRate),
      seconds: optionalNumber(entry.seconds),
    };
  });
}

function parseMetrics(value: unknown, path: string): RunMetrics {
  const object = parseObject(value, path);
  const training = object.training === undefined ? undefined : parseObject(object.training, path);
  const validation = object.validation === undefined || object.validation === null
    ? undefined : parseSplit(object.validation, `${path} (validation)`);
  const test = object.test === undefined || object.test === null ? undefined : parseSplit(object.test, `${path} (test)`);
  return {
    ...(training ? {
      training: {
        bestEpoch: optionalNumber(training.bestEpoch),
        restoredEpoch: optionalNumber(training.restoredEpoch),
        keptEpoch: optionalNumber(training.keptEpoch),
        monitor: typeof training.monitor === 'string' ? training.monitor : null,
        stoppedEpoch: optionalNumber(training.stoppedEpoch),
        stopReason: typeof training.stopReason === 'string' ? training.stopReason : null,
        epochs: optionalNumber(training.epochs),
      },
    } : {}),
    ...(validation ? { validation } : {}),
    ...(test ? { test } : {}),
  };
}

function parseSplit(value: unknown, where: string): SplitMetrics {
  const split = parseObject(value, where);
  const perClass = Array.isArray(split.perClass) ? split.perClass : [];
  const matrix = Array.isArray(split.confusionMatrix) ? split.confusionMatrix : [];
  for (const row of matrix) {
    if (!Array.isArray(row) || !row.every(isNumber)) throw malformed(where, 'confusionMatrix is not a matrix of numbers');
  }
  const wrong = Array.isArray(split.mostConfidentlyWrong) ? split.mostConfidentlyWrong : [];
  return {
    accuracy: isNumber(split.accuracy) ? split.accuracy : Number.NaN,
    n: isNumber(split.n) ? split.n : 0,
    perClass: perClass.map((item: unknown) => {
      const entry = parseObject(item, where);
      return {
        className: String(entry.className ?? ''),
        precision: isNumber(entry.precision) ? entry.precision : Number.NaN,
        recall: isNumber(entry.recall) ? entry.recall : Number.NaN,
        f1: isNumber(entry.f1) ? entry.f1 : Number.NaN,
        support: isNumber(entry.support) ? entry.support : 0,
      };
    }),
    confusionMatrix: matrix as number[][],
    mostConfidentlyWrong: wrong.map((item: unknown): WrongPrediction => {
      const entry = parseObject(item, where);
      if (typeof entry.path !== 'string') throw malformed(where, 'a mostConfidentlyWrong entry has no "path"');
      return {
        path: entry.path,
        trueClass: String(entry.trueClass ?? ''),
        predictedClass: String(entry.predictedClass ?? ''),
        probability: isNumber(entry.probability) ? entry.probability : Number.NaN,
      };
    }),
  };
}

function parseSkipped(text: string): SkippedFile[] {
  const skipped: SkippedFile[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const tab = line.indexOf('\t');
    skipped.push(tab === -1 ? { path: line, reason: '' } : { path: line.slice(0, tab), reason: line.slice(tab + 1) });
  }
  return skipped;
}

function classNamesFrom(labelsJson: unknown, metrics: RunMetrics | undefined, path: string): string[] {
  if (labelsJson !== undefined) {
    const names = parseObject(labelsJson, path).classNames;
    if (!Array.isArray(names) || !names.every((name) => typeof name === 'string'))
      throw malformed(path, '"classNames" is not an array of strings');
    return names as string[];
  }
  const perClass = metrics?.validation?.perClass ?? metrics?.test?.perClass ?? [];
  return perClass.map((entry) => entry.className);
}

// #endregion
