/**
 * What the training report shows: the contents of a run folder (history.json, metrics.json, run.json,
 * labels.json, skipped.txt) plus thumbnails. Fields a run may lack are optional, so a report can be
 * drawn for a partial or older run folder.
 */
import type { ClassEvaluation as ClassMetrics, WrongPrediction } from '../workflows/evaluate.js';

/** One line of history.json. Validation values are absent (or null) when the run had no validation split. */
export interface HistoryEntry {
  /** 1-based. */
  readonly epoch: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly valLoss?: number | null;
  readonly valAccuracy?: number | null;
  readonly learningRate?: number | null;
  readonly seconds?: number | null;
}

/** Per-class metrics and confidently wrong files: the shapes `finetune evaluate` and metrics.json share. */
export type { ClassEvaluation as ClassMetrics, WrongPrediction } from '../workflows/evaluate.js';

/** metrics.json `validation` or `test`. */
export interface SplitMetrics {
  readonly accuracy: number;
  readonly n: number;
  readonly perClass: readonly ClassMetrics[];
  /** Rows are true classes, columns predicted classes, both in class-index order. */
  readonly confusionMatrix: ReadonlyArray<readonly number[]>;
  readonly mostConfidentlyWrong: readonly WrongPrediction[];
}

/** metrics.json `training`. */
export interface TrainingSummary {
  /** Epoch with the best monitored value. */
  readonly bestEpoch?: number | null;
  /** Epoch whose weights were put back at the end (early stopping's best); null when none were. */
  readonly restoredEpoch?: number | null;
  /** Epoch whose weights were exported: `restoredEpoch`, else the last completed epoch. */
  readonly keptEpoch?: number | null;
  /** The metric that picked the best epoch, e.g. `valLoss`. */
  readonly monitor?: string | null;
  readonly stoppedEpoch?: number | null;
  readonly stopReason?: string | null;
  readonly epochs?: number | null;
}

export interface RunMetrics {
  readonly training?: TrainingSummary;
  readonly validation?: SplitMetrics;
  readonly test?: SplitMetrics;
}

/**
 * run.json. Only the fields the report lays out specially are typed; everything else is shown as
 * key/value tables.
 */
export interface RunManifest {
  readonly tool?: { readonly name?: string; readonly version?: string };
  readonly createdAt?: string;
  readonly args?: unknown;
  readonly backbone?: Readonly<Record<string, unknown>>;
  readonly preprocess?: Readonly<Record<string, unknown>>;
  readonly split?: Readonly<Record<string, unknown>>;
  readonly hyperparameters?: Readonly<Record<string, unknown>>;
  readonly timings?: Readonly<Record<string, unknown>>;
  readonly cache?: { readonly hits?: number; readonly computed?: number } & Readonly<Record<string, unknown>>;
  readonly versions?: Readonly<Record<string, unknown>>;
  readonly augmentation?: unknown;
  readonly [key: string]: unknown;
}

export interface SkippedFile {
  readonly path: string;
  readonly reason: string;
}

/** A small image for the "most confidently wrong" gallery. */
export type Thumbnail =
  | { readonly ok: true; /** `data:image/...;base64,...` */ readonly dataUri: string; readonly width: number; readonly height: number }
  | { readonly ok: false; /** Why no image could be made, shown in its place. */ readonly reason: string };

export interface ReportData {
  /** Shown in the title; usually the run folder's name. */
  readonly title: string;
  /** The run folder, shown in the header. */
  readonly runDir?: string;
  readonly classNames: readonly string[];
  readonly history: readonly HistoryEntry[];
  readonly metrics?: RunMetrics;
  readonly manifest?: RunManifest;
  readonly skipped?: readonly SkippedFile[];
  /** Thumbnails keyed by {@link WrongPrediction.path}. A missing key renders as "no thumbnail". */
  readonly thumbnails?: Readonly<Record<string, Thumbnail>>;
  /** ISO time the report was generated, shown in the footer. @defaultValue not shown */
  readonly generatedAt?: string;
}
