/**
 * SQLite failures of the embedding cache → FinetuneErrors that say what to do. Shared by the store
 * (embedding-cache.ts), its administration (cache-admin.ts) and the NPY export.
 */
import { FinetuneError } from '../errors.js';

/**
 * Wraps a better-sqlite3 error raised while `doing` something with the cache at `path`: CACHE_CORRUPT for a
 * damaged file, CACHE_BUSY when another process kept the write lock past the busy timeout, CACHE_CORRUPT with a
 * disk-space/permissions hint for the rest (I/O errors, read-only folders). FinetuneErrors pass through.
 */
export function wrapSqliteError(path: string, cause: unknown, doing: string): FinetuneError {
  if (cause instanceof FinetuneError) return cause;
  const code = (cause as { code?: string }).code ?? '';
  const reason = cause instanceof Error ? cause.message : String(cause);
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new FinetuneError('CACHE_CORRUPT', `The embedding cache "${path}" is damaged (${reason}) while ${doing}.`,
      `Move the file away (it only holds recomputable vectors) or point --cache-dir elsewhere; the next run rebuilds it.`,
      { cause });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new FinetuneError('CACHE_BUSY', `The embedding cache "${path}" stayed locked by another process while ${doing}.`,
      'The cache is busy, not damaged: wait for the other finetune process to finish and rerun, or give each process its own --cache-dir.',
      { cause });
  }
  return new FinetuneError('CACHE_CORRUPT', `The embedding cache "${path}" failed while ${doing}: ${reason}`,
    'Check free disk space and permissions of the cache directory (--cache-dir).', { cause });
}

/** Runs `fn`, wrapping any SQLite failure with {@link wrapSqliteError}. */
export function withSqliteErrors<T>(path: string, doing: string, fn: () => T): T {
  try {
    return fn();
  } catch (cause) {
    throw wrapSqliteError(path, cause, doing);
  }
}
