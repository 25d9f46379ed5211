/**
 * Merging shard caches (`finetune cache merge`): every source's vectors are copied into the target with
 * INSERT OR IGNORE, one transaction per source, so a merge is idempotent and safe to rerun after a crash.
 * The feature extractors must agree unless mixing is allowed explicitly; a mismatch names the differing field.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { FinetuneError } from '../errors.js';
import type { FeatureExtractorSpec } from '../types.js';
import { EmbeddingCache, loadSqlite, type EmbeddingCacheOptions } from './embedding-cache.js';

export interface MergeCachesOptions {
  /** Accept sources made with different extractors (they stay separate in the target). @defaultValue `false` */
  readonly allowMixedExtractors?: boolean;
  /** Passed to EmbeddingCache.open for the target. @defaultValue `30000` */
  readonly busyTimeoutMs?: number;
}

export interface MergeSourceResult {
  readonly path: string;
  readonly extractors: readonly string[];
  readonly vectors: number;
  /** Rows that were new in the target. */
  readonly inserted: number;
}

export interface MergeResult {
  readonly target: string;
  readonly sources: readonly MergeSourceResult[];
  readonly inserted: number;
  /** Rows the target already had (from an earlier merge or another shard). */
  readonly alreadyPresent: number;
}

interface SourceExtractor {
  readonly path: string;
  readonly key: string;
  readonly spec: FeatureExtractorSpec;
  readonly embeddingDim: number;
}

/** Dotted paths whose values differ, e.g. `preprocess.resizeSize (256 vs 224)`. */
export function describeSpecDifference(a: unknown, b: unknown, prefix = ''): string[] {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((key) => describeSpecDifference(
      (a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], prefix ? `${prefix}.${key}` : key));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [`${prefix || '(value)'} (${JSON.stringify(a)} vs ${JSON.stringify(b)})`];
}

function readSourceExtractors(path: string): { extractors: SourceExtractor[]; vectors: number } {
  let db: Database.Database | undefined;
  try {
    const SqliteDatabase = loadSqlite();
    db = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
    const rows = db.prepare('SELECT key, spec, embedding_dim FROM extractors ORDER BY key').all() as
      Array<{ key: string; spec: string; embedding_dim: number }>;
    const vectors = db.prepare('SELECT COUNT(*) FROM vectors').pluck().get() as number;
    return {
      extractors: rows.map((row) => ({ path, key: row.key, spec: JSON.parse(row.spec) as FeatureExtractorSpec, embeddingDim: row.embedding_dim })),
      vectors,
    };
  } catch (cause) {
    throw new FinetuneError('CACHE_CORRUPT', `"${path}" is not a readable embedding cache: ${cause instanceof Error ? cause.message : String(cause)}.`,
      'Check the path; a shard that crashed before its first batch may have left an empty file: rerun that shard.', { cause });
  } finally {
    db?.close();
  }
}

/**
 * Copies the vectors of every `source` cache file into `target` (created when missing). Checks all sources
 * before writing anything: they must exist, be readable, and (unless `allowMixedExtractors`) share one
 * extractor; otherwise CACHE_MISMATCH names the differing spec fields.
 */
export function mergeCaches(sources: readonly string[], target: string, options: MergeCachesOptions = {}): MergeResult {
  if (sources.length === 0) throw new TypeError(`mergeCaches: 'sources' is empty.`);
  const targetPath = resolve(target);
  const sourcePaths = sources.map((source) => resolve(source));
  const missing = sourcePaths.filter((path) => !existsSync(path));
  if (missing.length > 0) {
    throw new FinetuneError('FILE_NOT_FOUND', `Cache file(s) not found: ${missing.map((p) => `"${p}"`).join(', ')}.`,
      'Check the shard paths; a shard that never started has no file: run it, then merge again.');
  }
  const sourceInfo = sourcePaths.filter((path) => path !== targetPath).map((path) => ({ path, ...readSourceExtractors(path) }));

  const byKey = new Map<string, SourceExtractor>();
  for (const info of sourceInfo) for (const extractor of info.extractors) if (!byKey.has(extractor.key)) byKey.set(extractor.key, extractor);
  if (byKey.size > 1 && options.allowMixedExtractors !== true) {
    const [first, second] = [...byKey.values()] as [SourceExtractor, SourceExtractor];
    const differences = describeSpecDifference(first.spec, second.spec);
    throw new FinetuneError('CACHE_MISMATCH',
      `The caches were made with different feature extractors: "${first.path}" and "${second.path}" differ in ${differences.join(', ')}.`,
      'Re-embed the odd shard with the same model, layer, pooling and preprocessing, or pass allowMixedExtractors to keep both.');
  }

  const cacheOptions: EmbeddingCacheOptions = { path: targetPath, ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }) };
  const cache = EmbeddingCache.open(cacheOptions);
  try {
    for (const extractor of byKey.values()) cache.registerExtractor(extractor.spec, extractor.embeddingDim);
    const db = cache.database;
    const results: MergeSourceResult[] = [];
    let inserted = 0, total = 0;
    for (const info of sourceInfo) {
      db.prepare('ATTACH DATABASE ? AS source').run(info.path);
      try {
        const changes = db.transaction(() => db.prepare(`
          INSERT OR IGNORE INTO main.vectors (extractor, image_sha, variant, vector, created_at)
          SELECT extractor, image_sha, variant, vector, created_at FROM source.vectors`).run().changes).immediate();
        results.push({ path: info.path, extractors: info.extractors.map((e) => e.key), vectors: info.vectors, inserted: changes });
        inserted += changes;
        total += info.vectors;
      } finally {
        db.prepare('DETACH DATABASE source').run();
      }
    }
    return { target: targetPath, sources: results, inserted, alreadyPresent: total - inserted };
  } finally {
    cache.close();
  }
}
