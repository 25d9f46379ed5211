/**
 * Errors a user can act on. Each carries a stable `code`, a message that quotes the offending value,
 * and a `hint`: one sentence naming the next command to run or the next thing to change.
 * Programmer misuse of a library argument throws the built-in TypeError/RangeError instead.
 */
export type ErrorCode =
  | 'FILE_NOT_FOUND'
  | 'MODEL_INVALID'
  | 'MODEL_NOT_FOUND'
  | 'DOWNLOAD_FAILED'
  | 'DOWNLOAD_TIMEOUT'
  | 'OFFLINE'
  | 'CHECKSUM_MISMATCH'
  | 'GRAPH_EDIT_FAILED'
  | 'LAYER_NOT_FOUND'
  | 'RUNTIME_UNAVAILABLE'
  | 'INFERENCE_FAILED'
  | 'IMAGE_DECODE_FAILED'
  | 'DATASET_INVALID'
  | 'CLASS_COUNT_MISMATCH'
  | 'CACHE_CORRUPT'
  | 'CACHE_BUSY'
  | 'CACHE_MISMATCH'
  | 'TRAINING_DIVERGED'
  | 'EXPORT_FAILED'
  | 'PARITY_FAILED'
  | 'RUN_INVALID'
  | 'RUN_FORMAT_UNSUPPORTED'
  | 'LIMIT_EXCEEDED'
  | 'INVALID_OPTION';

export class FinetuneError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ChecksumMismatchError extends FinetuneError {
  constructor(
    readonly path: string,
    readonly expected: string,
    readonly actual: string,
    readonly url?: string,
  ) {
    super(
      'CHECKSUM_MISMATCH',
      `SHA-256 of ${url ? `the file served by "${url}"` : `"${path}"`} is ${actual}, expected ${expected}.`,
      'The download was discarded; run `finetune models pull` again, or use --mirror to pick another host.',
    );
  }
}

export function isFinetuneError(error: unknown): error is FinetuneError {
  return error instanceof FinetuneError;
}

/** The `count` names in `candidates` closest to `name` (Levenshtein), for "did you mean" hints. */
export function nearestNames(name: string, candidates: Iterable<string>, count = 5): string[] {
  const scored: Array<[string, number]> = [];
  const lower = name.toLowerCase();
  for (const candidate of candidates) {
    const other = candidate.toLowerCase();
    const distance = other.includes(lower) || lower.includes(other) ? 0 : levenshtein(lower, other);
    scored.push([candidate, distance]);
  }
  scored.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  return scored.slice(0, count).map(([candidate]) => candidate);
}

function levenshtein(a: string, b: string): number {
  let previous = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) previous[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const current = new Array<number>(b.length + 1);
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}
