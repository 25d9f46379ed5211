/**
 * Looking after an embedding store (`finetune cache ls | info | prune`): its size and counts, the extractors it
 * holds, finding one by key prefix, and pruning. The store itself (open, get, put) is embedding-cache.ts.
 */
import { statSync } from 'node:fs';
import { FinetuneError, nearestNames } from '../errors.js';
import { LEGACY_RESIZE_FILTER } from '../image/preprocess-spec.js';
import type { FeatureExtractorSpec } from '../types.js';
import { withSqliteErrors } from './cache-errors.js';
import { CACHE_SCHEMA_VERSION, type EmbeddingCache } from './embedding-cache.js';

/** One feature extractor in the store, JSON-friendly for `finetune cache ls --json`. */
export interface ExtractorInfo {
  readonly key: string;
  readonly spec: FeatureExtractorSpec;
  readonly embeddingDim: number;
  /** Vectors stored for this extractor, all variants. */
  readonly vectors: number;
  /** Of which augmented views (variant ≠ ''). */
  readonly variantVectors: number;
  /** Approximate payload in bytes (vectors × embeddingDim × 4). */
  readonly sizeBytes: number;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601: the last time an extraction registered this extractor. */
  readonly lastUsedAt: string;
}

export interface CacheStats {
  readonly path: string;
  readonly schemaVersion: number;
  /** The database file plus its WAL. */
  readonly sizeBytes: number;
  readonly extractors: number;
  readonly vectors: number;
}

export interface PruneOptions {
  /** Remove this extractor (full key or a unique prefix of at least 6 characters). */
  readonly extractor?: string;
  /** Remove extractors not used for more than this many days. */
  readonly olderThanDays?: number;
  /** Remove everything. @defaultValue `false` */
  readonly all?: boolean;
  /** Rewrite the file afterwards so it shrinks on disk. @defaultValue `true` */
  readonly vacuum?: boolean;
}

export interface PruneResult {
  readonly removedExtractors: readonly string[];
  readonly removedVectors: number;
  readonly sizeBytesBefore: number;
  readonly sizeBytesAfter: number;
}

interface ExtractorRow {
  key: string;
  spec: string;
  embedding_dim: number;
  created_at: number;
  last_used_at: number;
  vectors: number;
  variant_vectors: number;
}

const toIso = (unixSeconds: number): string => new Date(unixSeconds * 1000).toISOString();

/** Bytes on disk of the database file plus its WAL. */
function fileSize(path: string): number {
  let total = 0;
  for (const suffix of ['', '-wal']) {
    try { total += statSync(path + suffix).size; } catch { /* absent */ }
  }
  return total;
}

/** Size on disk and how many extractors and vectors the store holds. */
export function cacheStats(cache: EmbeddingCache): CacheStats {
  const db = cache.database;
  const [extractors, vectors] = withSqliteErrors(cache.path, 'counting its contents', () => [
    db.prepare('SELECT COUNT(*) FROM extractors').pluck().get() as number,
    db.prepare('SELECT COUNT(*) FROM vectors').pluck().get() as number,
  ] as const);
  return { path: cache.path, schemaVersion: CACHE_SCHEMA_VERSION, sizeBytes: fileSize(cache.path), extractors, vectors };
}

/** Every extractor with its vector counts, most recently used first. */
export function listExtractors(cache: EmbeddingCache): ExtractorInfo[] {
  const rows = withSqliteErrors(cache.path, 'listing its extractors', () => cache.database.prepare(`
    SELECT e.key, e.spec, e.embedding_dim, e.created_at, e.last_used_at,
           COUNT(v.image_sha) AS vectors, COALESCE(SUM(v.variant <> ''), 0) AS variant_vectors
    FROM extractors e LEFT JOIN vectors v ON v.extractor = e.key
    GROUP BY e.key ORDER BY e.last_used_at DESC, e.key`).all() as ExtractorRow[]);
  return rows.map((row) => ({
    key: row.key,
    spec: storedSpec(row.spec),
    embeddingDim: row.embedding_dim,
    vectors: row.vectors,
    variantVectors: row.variant_vectors,
    sizeBytes: row.vectors * row.embedding_dim * 4,
    createdAt: toIso(row.created_at),
    lastUsedAt: toIso(row.last_used_at),
  }));
}

/** The extractor with this key or unique key prefix (≥ 6 characters); INVALID_OPTION naming the candidates otherwise. */
export function resolveExtractor(cache: EmbeddingCache, keyOrPrefix: string): ExtractorInfo {
  const extractors = listExtractors(cache);
  const exact = extractors.find((info) => info.key === keyOrPrefix);
  if (exact) return exact;
  const matches = keyOrPrefix.length >= 6 ? extractors.filter((info) => info.key.startsWith(keyOrPrefix)) : [];
  if (matches.length === 1) return matches[0]!;
  const keys = extractors.map((info) => info.key.slice(0, 12));
  throw new FinetuneError('INVALID_OPTION',
    matches.length > 1
      ? `Extractor prefix "${keyOrPrefix}" matches ${matches.length} extractors in "${cache.path}".`
      : `No extractor "${keyOrPrefix}" in "${cache.path}".`,
    keys.length === 0 ? 'The cache is empty; run `finetune embed` first.'
      : `Known extractors (see \`finetune cache ls\`): ${nearestNames(keyOrPrefix, keys).join(', ')}.`);
}

/** Deletes extractors and their vectors. At least one of `extractor`, `olderThanDays`, `all` is required. */
export function pruneCache(cache: EmbeddingCache, options: PruneOptions): PruneResult {
  if (cache.readonly) throw new TypeError('pruneCache: the cache was opened read-only.');
  if (options.extractor === undefined && options.olderThanDays === undefined && options.all !== true) {
    throw new TypeError(`pruneCache: pass 'extractor', 'olderThanDays' or 'all: true'.`);
  }
  if (options.olderThanDays !== undefined && !(options.olderThanDays >= 0)) {
    throw new RangeError(`pruneCache: 'olderThanDays' must be a non-negative number, got ${options.olderThanDays}.`);
  }
  const sizeBytesBefore = fileSize(cache.path);
  const candidates = new Set<string>();
  if (options.all === true) for (const info of listExtractors(cache)) candidates.add(info.key);
  if (options.extractor !== undefined) candidates.add(resolveExtractor(cache, options.extractor).key);
  if (options.olderThanDays !== undefined) {
    const cutoff = Math.floor(Date.now() / 1000) - options.olderThanDays * 86_400;
    const old = withSqliteErrors(cache.path, 'finding unused extractors', () =>
      cache.database.prepare('SELECT key FROM extractors WHERE last_used_at < ?').pluck().all(cutoff) as string[]);
    for (const key of old) candidates.add(key);
  }
  const removedVectors = cache.deleteExtractors(candidates);
  if (candidates.size > 0 && (options.vacuum ?? true)) {
    withSqliteErrors(cache.path, 'compacting it after the prune', () => {
      cache.database.exec('VACUUM');
      cache.database.pragma('wal_checkpoint(TRUNCATE)');
    });
  }
  return { removedExtractors: [...candidates], removedVectors, sizeBytesBefore, sizeBytesAfter: fileSize(cache.path) };
}

/** A stored extractor spec; one written before specs recorded the resize filter was made with the legacy filter. */
function storedSpec(json: string): FeatureExtractorSpec {
  const spec = JSON.parse(json) as FeatureExtractorSpec;
  return { ...spec, preprocess: { ...spec.preprocess, resizeFilter: spec.preprocess.resizeFilter ?? LEGACY_RESIZE_FILTER } };
}
