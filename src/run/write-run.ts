/** The only writer of run folders (see run-format.ts for the files and their types). */
import { readlink, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { SkippedFile } from '../image/scan-dataset.js';
import type { FitResult } from '../train/fit.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { LABEL_ISSUE_COLUMNS, NEAR_DUPLICATE_COLUMNS, RUN_FILES, RUN_FORMAT_VERSION } from './run-format.js';
import type { ModelFilesInPlace, RunFileKey, RunFiles, RunHistoryEntry, RunMetrics, RunRecord, TrainingSummary } from './run-format.js';

/**
 * Writes every file of `run` into `dir` (created if needed), each atomically: head.onnx, labels.json, history.json,
 * history.csv, metrics.json, skipped.txt, label-issues.csv, near-duplicates.csv, model.onnx, then run.json last,
 * stamped with {@link RUN_FORMAT_VERSION}. A model the export already streamed into the folder is recorded as it is
 * (see {@link ModelFilesInPlace}). A file whose part of the record is null is removed, so a reused folder never mixes
 * two runs.
 * Returns the paths written, in that order.
 */
export async function writeRun(dir: string, run: RunRecord): Promise<RunFiles> {
  const root = resolve(dir);
  const files: { -readonly [K in RunFileKey]?: string } = {};
  const path = (key: RunFileKey): string => (files[key] = join(root, RUN_FILES[key]));
  const writeOptional = async (key: RunFileKey, contents: Uint8Array | string | null): Promise<void> => {
    if (contents === null) await rm(join(root, RUN_FILES[key]), { force: true });
    else await writeFileAtomic(path(key), contents);
  };
  const writeModelFile = (key: 'head' | 'model', bytes: Uint8Array | null): Promise<void> => writeOptional(key, bytes);
  const recordModel = async (model: RunRecord['model']): Promise<void> => {
    const inPlace = model !== null && !(model instanceof Uint8Array);
    if (inPlace) {
      if (resolve(model.path) !== join(root, RUN_FILES.model)) throw new RangeError(`writeRun: model.onnx is at "${model.path}", not in "${root}".`);
      files.model = model.path;
    } else {
      await writeModelFile('model', model);
    }
    if (inPlace && model.externalDataPath !== null) files.modelData = model.externalDataPath;
    else await rm(join(root, RUN_FILES.modelData), { force: true });
  };

  await writeModelFile('head', run.head);
  await writeJsonAtomic(path('labels'), run.labels);
  await writeJsonAtomic(path('historyJson'), run.history);
  await writeFileAtomic(path('historyCsv'), historyToCsv(run.history));
  await writeJsonAtomic(path('metrics'), metricsJson(run.metrics));
  await writeFileAtomic(path('skipped'), formatSkipped(run.skipped));
  await writeOptional('labelIssues', run.labelIssues && formatCsv(LABEL_ISSUE_COLUMNS, run.labelIssues.map((issue) => [
    issue.path, issue.givenClass, issue.suggestedClass, issue.givenProbability, issue.suggestedProbability])));
  await writeOptional('nearDuplicates', run.nearDuplicates && formatCsv(NEAR_DUPLICATE_COLUMNS,
    run.nearDuplicates.map((row) => [row.cluster, row.split, row.path])));
  await recordModel(run.model);
  // formatVersion first in the file, and always this writer's (a record read from an older folder is rewritten as current).
  if (run.manifest === null) await rm(join(root, RUN_FILES.manifest), { force: true });
  else await writeJsonAtomic(path('manifest'), Object.assign({ formatVersion: RUN_FORMAT_VERSION }, run.manifest, { formatVersion: RUN_FORMAT_VERSION }));
  return files;
}

/** Keys of metrics.json left out when null: `test` (as before formats had versions) and those added in format 4. */
const OMITTED_WHEN_NULL = new Set<keyof RunMetrics>(['test', 'crossFit', 'crossValidation', 'testCalibration', 'labelAudit', 'nearDuplicates']);

/** metrics.json as written (see OMITTED_WHEN_NULL). */
function metricsJson(metrics: RunMetrics): object {
  return Object.fromEntries(Object.entries(metrics).filter(([key, value]) => value !== null || !OMITTED_WHEN_NULL.has(key as keyof RunMetrics)));
}

/** RFC 4180 CSV: a header, then one line per row; cells with a comma, quote or line break are quoted. */
export function formatCsv(columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cell = (value: string | number): string => {
    const text = String(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return `${[columns, ...rows].map((row) => row.map(cell).join(',')).join('\n')}\n`;
}

/** metrics.json `training` (and the exported model's training summary) from fit's result. */
export function summarizeTraining(fit: FitResult, validationAccuracy: number | null): TrainingSummary {
  return {
    epochs: fit.epochs, bestEpoch: fit.bestEpoch, restoredEpoch: fit.restoredEpoch, keptEpoch: fit.keptEpoch,
    stoppedEpoch: fit.stoppedEpoch, stopReason: fit.stopReason, monitor: fit.monitor, validationAccuracy,
  };
}

const HISTORY_COLUMNS = ['epoch', 'loss', 'accuracy', 'valLoss', 'valAccuracy', 'learningRate', 'seconds'] as const;

/**
 * history.csv: a header row, then one row per epoch; a missing validation metric is an empty cell. A cross-fitted
 * head's history starts with a `fold` column.
 */
export function historyToCsv(history: readonly RunHistoryEntry[]): string {
  const withFolds = history.some((logs) => logs.fold !== undefined);
  const lines = [[...(withFolds ? ['fold'] : []), ...HISTORY_COLUMNS].join(',')];
  for (const logs of history) {
    const cells = HISTORY_COLUMNS.map((column) => (logs[column] === null ? '' : String(logs[column])));
    lines.push([...(withFolds ? [String(logs.fold ?? '')] : []), ...cells].join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** The first line of skipped.txt. */
export const SKIPPED_HEADER = '# files left out of this run: path<TAB>reason';

/**
 * skipped.txt: the header, then `path<TAB>reason` per file. Line breaks and tabs in a reason become spaces; a path
 * holding one (or starting with `"`) is written as a JSON string, which parseSkipped decodes.
 */
export function formatSkipped(skipped: readonly SkippedFile[]): string {
  const lines = [SKIPPED_HEADER, ...skipped.map((file) => {
    const path = /[\t\r\n]|^"/.test(file.path) ? JSON.stringify(file.path) : file.path;
    return `${path}\t${file.reason.replace(/[\t\r\n]+/g, ' ')}`;
  })];
  return `${lines.join('\n')}\n`;
}

/** Writes skipped.txt at `path` (also used by `finetune embed --report-dir`). */
export async function writeSkipped(path: string, skipped: readonly SkippedFile[]): Promise<void> {
  await writeFileAtomic(path, formatSkipped(skipped));
}

/** `runs/<UTC timestamp>` under `baseDir`, e.g. `runs/2026-11-25T22-30-05`. */
export function defaultRunDir(baseDir = 'runs', now = new Date()): string {
  return resolve(baseDir, now.toISOString().slice(0, 19).replace(/:/g, '-'));
}

/** Points `<parent>/latest` at the run folder (best effort: a filesystem without symlinks just has no `latest`). */
export async function linkLatest(runDir: string): Promise<void> {
  const link = join(dirname(runDir), 'latest');
  const current = await readlink(link).catch(() => null);
  if (current === basename(runDir)) return;
  const tmp = `${link}.tmp-${process.pid}`;
  try {
    await rm(tmp, { force: true });
    await symlink(basename(runDir), tmp);
    await rename(tmp, link);
  } catch {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}
