/**
 * Reading image files for their bytes and content hash (sha256), the identity of an image in the embedding cache
 * and in shard assignment. Failures are values with a short reason, not exceptions, so a batch can list them.
 */
import { readFile } from 'node:fs/promises';
import { sha256 } from '../util/hash.js';
import { mapLimit } from '../util/map-limit.js';

export type ReadImageFileResult =
  | { readonly ok: true; readonly bytes: Uint8Array; readonly sha: string }
  | { readonly ok: false; readonly reason: string; readonly error?: unknown };

/** Files read and hashed at once by {@link hashImageFiles}. */
export const READ_CONCURRENCY = 16;

/** A short reason for an fs error on an image path: `file not found`, `is a directory`, else the message. */
export function readFailureReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'EISDIR') return 'is a directory';
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!;
}

/** Reads a file and hashes its bytes; an unreadable or empty (0-byte) file is `{ ok: false, reason }`. */
export async function readImageFile(path: string): Promise<ReadImageFileResult> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    return { ok: false, reason: readFailureReason(error), error };
  }
  if (bytes.length === 0) return { ok: false, reason: 'empty file (0 bytes)' };
  return { ok: true, bytes, sha: sha256(bytes) };
}

/** sha256 of each file's bytes (null for a file that cannot be read or is empty), with bounded concurrency. */
export async function hashImageFiles(paths: readonly string[],
  options: { readonly concurrency?: number } = {}): Promise<Array<string | null>> {
  return mapLimit(paths, options.concurrency ?? READ_CONCURRENCY, async (path) => {
    const read = await readImageFile(path);
    return read.ok ? read.sha : null;
  });
}
