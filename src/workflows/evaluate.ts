/**
 * `finetune evaluate`: accuracy, per-class precision/recall/F1, the confusion matrix and the most confidently
 * wrong files of an exported model on a labelled folder. Class folders are matched to the model's class names.
 */
import { readdir, stat } from 'node:fs/promises';
import { FinetuneError, nearestNames } from '../errors.js';
import { readExportedModelInfo } from '../export/exported-model-format.js';
import { scanDataset } from '../image/scan-dataset.js';
import type { SkippedFile } from '../image/scan-dataset.js';
import { classificationReport, evaluateProbabilities, isSparseConfusion } from '../train/metrics.js';
import type { AveragedMetrics, ConfusionMatrix, EvaluationMetrics } from '../train/metrics.js';
import type { Device, ProgressCallback } from '../types.js';
import { runModelOnImages } from './predict.js';

export interface EvaluateOptions {
  /** @defaultValue `'auto'` */
  device?: Device;
  /** Images per run. @defaultValue `16` */
  batchSize?: number;
  /** Test-time augmentation: `'flip'` averages each image with its mirror image. @defaultValue `'none'` */
  tta?: 'none' | 'flip';
  /** How many of the most confidently wrong files to list. @defaultValue `10` */
  mostConfidentlyWrong?: number;
  onProgress?: ProgressCallback;
}

export interface EvaluationReport extends EvaluationMetrics {
  readonly modelPath: string;
  readonly dataFolder: string;
  /** The model's classes, in index order (rows and columns of the confusion matrix). */
  readonly classNames: readonly string[];
  readonly macro: AveragedMetrics;
  /** Files not evaluated: skipped by the scan (not images, unsupported formats) or failed to decode. */
  readonly skipped: readonly SkippedFile[];
}

/**
 * Evaluates an exported model on `dataFolder` (one sub-folder per class, or a CSV/JSONL manifest). Folder names
 * must be among the model's class names; classes of the model without a folder are allowed (their support is 0).
 * @throws FinetuneError DATASET_INVALID for folders that are not classes of the model (all named), MODEL_INVALID for a
 * model finetune did not export, INVALID_OPTION for head-only models.
 */
export async function evaluate(modelPath: string, dataFolder: string, options: EvaluateOptions = {}): Promise<EvaluationReport> {
  const listed = options.mostConfidentlyWrong ?? 10;
  if (!Number.isInteger(listed) || listed < 0) {
    throw new RangeError(`evaluate: 'mostConfidentlyWrong' must be a non-negative integer, got ${listed}.`);
  }
  const info = await readExportedModelInfo(modelPath);
  await checkClassFolders(dataFolder, modelPath, info.classNames);
  const dataset = await scanDataset(dataFolder, { classNames: info.classNames });
  if (dataset.items.length === 0) {
    throw new FinetuneError('DATASET_INVALID', `"${dataFolder}" has no images to evaluate.`, 'Add images to the class folders.');
  }
  const paths = dataset.items.map((item) => item.path);
  const run = await runModelOnImages(modelPath, paths, options);
  const { result, classNames } = run;
  const labelOf = new Map(dataset.items.map((item) => [item.path, item.label]));
  const labels = Int32Array.from(result.paths, (path) => labelOf.get(path)!);
  const metrics = evaluateProbabilities(result.probabilities, labels, result.paths, classNames, { mostConfidentlyWrong: listed });
  return {
    modelPath,
    dataFolder,
    classNames,
    ...metrics,
    macro: classificationReport(metrics.confusionMatrix).macro,
    skipped: [...dataset.skipped, ...result.failed.map(({ path, reason }) => ({ path, reason }))],
  };
}

/** Fails, naming them, when `dataFolder` has sub-folders that are not classes of the model (manifests are left to scanDataset). */
async function checkClassFolders(dataFolder: string, modelPath: string, classNames: readonly string[]): Promise<void> {
  let entries;
  try {
    if (!(await stat(dataFolder)).isDirectory()) return;
    entries = await readdir(dataFolder, { withFileTypes: true });
  } catch {
    return;   // scanDataset reports a missing folder with its own message
  }
  const known = new Set(classNames);
  const unknown = entries.filter((entry) => entry.isDirectory() && !entry.name.startsWith('.') && !known.has(entry.name))
    .map((entry) => entry.name).sort();
  if (unknown.length === 0) return;
  const suggestions = unknown.slice(0, 3).map((name) => `"${name}" → "${nearestNames(name, classNames, 1)[0]}"?`).join(', ');
  throw new FinetuneError('DATASET_INVALID',
    `"${dataFolder}" has ${unknown.length} folder(s) that are not classes of the model "${modelPath}": ${unknown.map((name) => `"${name}"`).join(', ')}.`,
    `The model's classes are: ${classNames.join(', ')}. Rename or remove the other folders (did you mean ${suggestions}).`);
}

export interface FormatEvaluationOptions {
  /** The report as JSON. @defaultValue `false` */
  json?: boolean;
}

/** The report as text for the terminal (accuracy, a per-class table, the confusion matrix, the worst files), or JSON. */
export function formatEvaluation(report: EvaluationReport, options: FormatEvaluationOptions = {}): string {
  if (options.json) return `${JSON.stringify(report, null, 2)}\n`;
  const lines: string[] = [];
  const percent = (value: number): string => `${(value * 100).toFixed(1)}%`;
  lines.push(`Accuracy: ${percent(report.accuracy)} on ${report.n} images (${report.classNames.length} classes)`);
  lines.push('');
  const nameWidth = Math.max('macro avg'.length, ...report.classNames.map((name) => name.length));
  lines.push(`${'class'.padEnd(nameWidth)}  precision  recall     f1  support`);
  for (const row of report.perClass) {
    lines.push(`${row.className.padEnd(nameWidth)}  ${fixed(row.precision, 9)}  ${fixed(row.recall, 6)}  ${fixed(row.f1, 5)}  ${String(row.support).padStart(7)}`);
  }
  lines.push(`${'macro avg'.padEnd(nameWidth)}  ${fixed(report.macro.precision, 9)}  ${fixed(report.macro.recall, 6)}  ${fixed(report.macro.f1, 5)}  ${String(report.n).padStart(7)}`);
  lines.push('');
  lines.push(...formatConfusionMatrix(report.confusionMatrix, report.classNames));
  if (report.mostConfidentlyWrong.length > 0) {
    lines.push('');
    lines.push(`Most confidently wrong (${report.mostConfidentlyWrong.length}):`);
    for (const entry of report.mostConfidentlyWrong) {
      lines.push(`  ${entry.path}  true ${entry.trueClass}, predicted ${entry.predictedClass} (${percent(entry.probability)})`);
    }
  }
  if (report.skipped.length > 0) {
    lines.push('');
    lines.push(`Skipped ${report.skipped.length} file(s):`);
    for (const file of report.skipped.slice(0, 10)) lines.push(`  ${file.path}  ${file.reason}`);
    if (report.skipped.length > 10) lines.push(`  … and ${report.skipped.length - 10} more`);
  }
  return `${lines.join('\n')}\n`;
}

/** The matrix as a table; above 100 classes (sparse) only the most frequent confusions, which is what one can read. */
function formatConfusionMatrix(matrix: ConfusionMatrix, classNames: readonly string[]): string[] {
  if (isSparseConfusion(matrix)) {
    const confusions = matrix.cells.filter(([actual, predicted]) => actual !== predicted)
      .sort((a, b) => b[2] - a[2] || a[0] - b[0] || a[1] - b[1]);
    const shown = confusions.slice(0, 20);
    return [
      `Confusion matrix: ${matrix.numClasses} classes are too many to print (--json lists every non-zero cell). ` +
        `Most frequent confusions (${shown.length} of ${confusions.length}):`,
      ...(shown.length === 0 ? ['  none'] : shown.map(([actual, predicted, count]) =>
        `  ${String(count).padStart(5)}× true ${classNames[actual] ?? `#${actual}`}, predicted ${classNames[predicted] ?? `#${predicted}`}`)),
    ];
  }
  const lines = ['Confusion matrix (rows: true class, columns: predicted):'];
  const cellWidth = Math.max(4, ...matrix.flat().map((count) => String(count).length), ...classNames.map((_, index) => String(index).length + 1));
  const rowLabels = classNames.map((name, index) => `#${index} ${name}`);
  const labelWidth = Math.max(...rowLabels.map((label) => label.length));
  lines.push(`${''.padEnd(labelWidth)}  ${classNames.map((_, index) => `#${index}`.padStart(cellWidth)).join(' ')}`);
  matrix.forEach((row, index) => {
    lines.push(`${(rowLabels[index] ?? '').padEnd(labelWidth)}  ${row.map((count) => String(count).padStart(cellWidth)).join(' ')}`);
  });
  return lines;
}

const fixed = (value: number, width: number): string => value.toFixed(3).padStart(width);
