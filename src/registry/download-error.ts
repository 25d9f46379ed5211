import { FinetuneError } from '../errors.js';
import type { ErrorCode } from '../errors.js';

/**
 * Why one URL failed. `slow`: it kept sending below the minimum speed. `checksum`/`size`: it served other bytes than
 * the catalog expects.
 */
export type DownloadFailureReason = 'unreachable' | 'timeout' | 'dropped' | 'slow' | 'http' | 'checksum' | 'size';

/** One URL's failure, as collected by downloadModel. */
export interface DownloadFailure {
  readonly url: string;
  readonly reason: DownloadFailureReason;
  readonly message: string;
  /** HTTP status, when the failure was one. */
  readonly status?: number;
}

/**
 * Every URL of a model failed. `failures` lists each URL and what it did; `code` is CHECKSUM_MISMATCH when every
 * URL served wrong bytes, DOWNLOAD_TIMEOUT when every URL stalled or was too slow, DOWNLOAD_FAILED otherwise.
 */
export class DownloadError extends FinetuneError {
  constructor(
    code: ErrorCode,
    message: string,
    hint: string,
    readonly failures: readonly DownloadFailure[],
    options?: ErrorOptions,
  ) {
    super(code, message, hint, options);
  }
}
