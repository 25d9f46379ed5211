/**
 * What the training report shows: a run folder as the run layer reads it (src/run: history, metrics, manifest,
 * skipped files; each may be absent in a partial or older run) plus thumbnails. The types are the run folder's
 * own, so the report cannot drift from what `writeRun` writes.
 */
import type { SkippedFile } from '../image/scan-dataset.js';
import type { LabelIssueRow, NearDuplicateRow, RunHistoryEntry, RunManifest, RunMetrics } from '../run/run-format.js';

/** Near-duplicate clusters the report shows (with thumbnails); the rest are in near-duplicates.csv. */
export const MAX_DUPLICATE_CLUSTERS_SHOWN = 12;

/** A small image for the "most confidently wrong" gallery. */
export type Thumbnail =
  | { readonly ok: true; /** `data:image/...;base64,...` */ readonly dataUri: string; readonly width: number; readonly height: number }
  | { readonly ok: false; /** Why no image could be made, shown in its place. */ readonly reason: string };

export interface ReportData {
  /** Shown in the title; usually the run folder's name. */
  readonly title: string;
  readonly classNames: readonly string[];
  readonly history: readonly RunHistoryEntry[];
  readonly metrics?: RunMetrics;
  readonly manifest?: RunManifest;
  readonly skipped?: readonly SkippedFile[];
  /** label-issues.csv, most contradicted first. */
  readonly labelIssues?: readonly LabelIssueRow[];
  /** near-duplicates.csv. */
  readonly nearDuplicates?: readonly NearDuplicateRow[];
  /** Thumbnails keyed by image path (wrong predictions, label issues, near duplicates). A missing key renders as "no thumbnail". */
  readonly thumbnails?: Readonly<Record<string, Thumbnail>>;
  /** ISO time the report was generated, shown in the footer. @defaultValue not shown */
  readonly generatedAt?: string;
}
