/**
 * SQLite failures of the embedding cache → FinetuneErrors that say what to do. Shared by the store
 * (embedding-cache.ts), its administration (cache-admin.ts) and the NPY export.
 */
import { FinetuneError } from '../errors.js';

/** Wraps a better-sqlite3 error raised while `doing` something with the cache at `path`. */
export function wrapSqliteError(path: string, cause: unknown, doing: string): FinetuneError {
  if (cause instanceof FinetuneError) return cause;
  const code = (cause as { code?: string }).code ?? '';
  const reason = cause instanceof Error ? cause.message : String(cause);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new FinetuneError('CACHE_CORRUPT', `The embedding cache "${path}" is damaged (${reason}) while ${doing}.`,
      `Move the file away (it only holds recomputable vectors) or point --cache-dir elsewhere; the next run rebuilds it.`,
      { cause });
  }
  if (code === 'SQLITE_BUSY') {
    return new FinetuneError('CACHE_CORRUPT', `The embedding cache "${path}" stayed locked by another process while ${doing}.`,
      'Wait for the other finetune process to finish, or raise busyTimeoutMs.', { cause });
  }
  return new FinetuneError('CACHE_CORRUPT', `The embedding cache "${path}" failed while ${doing}: ${reason}`,
    'Check free disk space and permissions of the cache directory (--cache-dir).', { cause });
}
