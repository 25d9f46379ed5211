/**
 * Shard caches after (or during) a scaled-out extraction: `finetune cache status` (per shard: images expected,
 * done, failed) and `finetune cache merge` (one cache from the shard files, reporting absent and unfinished
 * shards by number).
 *
 * Where the numbers come from:
 * - `done`: vectors of the extractor in the shard's file (with a dataset: of that dataset's images of the shard);
 * - `failed`: the images the worker could not decode, from its report `embeddings.shard-K-of-N.json`;
 * - `expected` (only with a dataset): distinct image contents whose hash falls in the shard. Computing it reads
 *   and hashes every image once, since the assignment is by content.
 * A shard is `missing` (no file), `unfinished` (its worker has not reported completion: still running, or it
 * died: rerun that shard), `incomplete` (finished, but the dataset has images it lacks, e.g. added since) or
 * `complete`.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FinetuneError } from '../errors.js';
import { cacheStats, listExtractors } from '../embed/cache-admin.js';
import { defaultCachePath, EmbeddingCache } from '../embed/embedding-cache.js';
import { shardOf } from '../embed/shard-of.js';
import { mergeCaches } from '../embed/merge-caches.js';
import type { MergeResult } from '../embed/merge-caches.js';
import { hashImageFiles } from '../image/read-image-file.js';
import { scanDataset } from '../image/scan-dataset.js';
import type { ProgressCallback } from '../types.js';
import { embeddingsDir } from '../util/paths.js';
import { readShardReport } from './embed-dataset.js';
import type { ShardReport } from './embed-dataset.js';
import { listShardFiles, parseShardFileName, shardCacheFileName } from './shard.js';
import type { ShardSpec } from './shard.js';

export interface ShardStatusOptions {
  /** Folder holding the shard files. @defaultValue `<home>/embeddings` */
  cacheDir?: string;
  /** finetune home, for the default cacheDir. @defaultValue `$FINETUNE_HOME` or `~/.cache/finetune` */
  home?: string;
  /** Inspect these shard files instead of every `embeddings.shard-K-of-N.sqlite` in cacheDir. */
  files?: readonly string[];
  /** Dataset (folder or manifest) to compute the images expected per shard from. @defaultValue none */
  data?: string;
  /** Extractor key or unique prefix to count. @defaultValue the one extractor the shard files hold */
  extractor?: string;
  /** Only shard files of N = `shards`; also lists all N shards when none has started. @defaultValue every N found */
  shards?: number;
  onProgress?: ProgressCallback;
}

export type ShardState = 'missing' | 'unfinished' | 'incomplete' | 'complete';

export interface ShardStatus extends ShardSpec {
  readonly path: string;
  readonly state: ShardState;
  /** Vectors of the extractor in the file (with a dataset: of the shard's images). */
  readonly done: number;
  /** Distinct images of the dataset in this shard; null without a dataset. */
  readonly expected: number | null;
  /** Images the worker reported as undecodable. */
  readonly failed: number;
  /** expected − done − failed; null without a dataset. */
  readonly remaining: number | null;
  /** The worker's report: where and when it ran. Null when it never wrote one. */
  readonly worker: Pick<ShardReport, 'state' | 'host' | 'pid' | 'startedAt' | 'finishedAt'> | null;
  readonly failures: ShardReport['failed'];
}

export interface ShardGroup {
  /** N. */
  readonly count: number;
  readonly shards: readonly ShardStatus[];
  /** Shard numbers (0-based) without a file. */
  readonly missing: readonly number[];
  /** Shard numbers that are unfinished or incomplete. */
  readonly incomplete: readonly number[];
  readonly complete: boolean;
}

export interface ShardStatusResult {
  readonly cacheDir: string | null;
  /** The extractor counted; null when the files hold several and none was chosen (done = all vectors). */
  readonly extractorKey: string | null;
  readonly groups: readonly ShardGroup[];
  readonly dataset: {
    readonly root: string;
    readonly images: number;
    /** Distinct image contents. */
    readonly distinct: number;
    /** Files that could not be read (they belong to no shard). */
    readonly unreadable: readonly string[];
  } | null;
}

interface DatasetShas {
  readonly root: string;
  readonly images: number;
  readonly distinct: ReadonlySet<string>;
  readonly unreadable: readonly string[];
}

async function hashDataset(data: string): Promise<DatasetShas> {
  const dataset = await scanDataset(data);
  const paths = dataset.items.map((item) => item.path);
  const shas = await hashImageFiles(paths);
  const distinct = new Set<string>();
  const unreadable: string[] = [];
  for (let index = 0; index < shas.length; index++) {
    const sha = shas[index];
    if (sha === null || sha === undefined) unreadable.push(paths[index]!);
    else distinct.add(sha);
  }
  return { root: dataset.root, images: paths.length, distinct, unreadable };
}

/** Opens a shard file read-only and lists its extractors; an empty or half-created file has none. */
function withCache<T>(path: string, fn: (cache: EmbeddingCache) => T, fallback: T): T {
  if (!existsSync(path) || statSync(path).size === 0) return fallback;
  const cache = EmbeddingCache.open({ path, readonly: true });
  try {
    return fn(cache);
  } finally {
    cache.close();
  }
}

function chooseExtractor(paths: readonly string[], requested: string | undefined): { key: string | null; ambiguous: string[] } {
  const keys = new Set<string>();
  for (const path of paths) withCache(path, (cache) => { for (const info of listExtractors(cache)) keys.add(info.key); }, undefined);
  if (requested !== undefined) {
    const matches = [...keys].filter((key) => key === requested || (requested.length >= 6 && key.startsWith(requested)));
    if (matches.length === 1) return { key: matches[0]!, ambiguous: [] };
    throw new FinetuneError('INVALID_OPTION',
      matches.length > 1 ? `Extractor prefix "${requested}" matches ${matches.length} extractors in the shard files.`
        : `No shard file holds extractor "${requested}".`,
      keys.size > 0 ? `The shard files hold: ${[...keys].map((key) => key.slice(0, 12)).join(', ')}.`
        : 'The shard files hold no vectors yet; run the workers first (`finetune embed --shard K/N`).');
  }
  if (keys.size <= 1) return { key: [...keys][0] ?? null, ambiguous: [] };
  return { key: null, ambiguous: [...keys] };
}

/** Per shard: images expected (with a dataset), done and failed; absent and unfinished shards by number. */
export async function shardCacheStatus(options: ShardStatusOptions = {}): Promise<ShardStatusResult> {
  const cacheDir = options.files === undefined
    ? (options.cacheDir !== undefined ? resolve(options.cacheDir) : embeddingsDir(options.home)) : null;
  let files: Array<{ path: string; shard: ShardSpec }>;
  if (options.files !== undefined) {
    files = [];
    for (const file of options.files) {
      const shard = parseShardFileName(file);
      if (shard === null) {
        throw new FinetuneError('INVALID_OPTION', `"${file}" is not named like a shard cache (embeddings.shard-K-of-N.sqlite).`,
          'Pass the files `finetune embed --shard K/N` wrote, or the folder holding them (--cache-dir).');
      }
      files.push({ path: resolve(file), shard });
    }
  } else {
    files = listShardFiles(cacheDir!);
  }
  if (options.shards !== undefined) files = files.filter((file) => file.shard.count === options.shards);
  const counts = new Set(files.map((file) => file.shard.count));
  if (options.shards !== undefined) counts.add(options.shards);
  if (counts.size === 0) {
    throw new FinetuneError('FILE_NOT_FOUND', `No shard caches (embeddings.shard-K-of-N.sqlite) in "${cacheDir ?? '(given files)'}".`,
      'Point --cache-dir at the folder the workers wrote to, or pass --shards N to list the shards still to run.');
  }

  const { key, ambiguous } = chooseExtractor(files.map((file) => file.path), options.extractor);
  const dataset = options.data !== undefined ? await hashDataset(options.data) : null;
  if (dataset !== null && ambiguous.length > 0) {
    throw new FinetuneError('INVALID_OPTION',
      `The shard files hold ${ambiguous.length} extractors (${ambiguous.map((k) => k.slice(0, 12)).join(', ')}); pick the one to count.`,
      'Pass --extractor <key prefix> (see `finetune cache ls --cache <shard file>`).');
  }
  if (ambiguous.length > 0) {
    options.onProgress?.({ stage: 'warn', status: 'message',
      message: `the shard files hold ${ambiguous.length} extractors; counting all their vectors (pass --extractor to pick one)` });
  }

  const groups: ShardGroup[] = [];
  for (const count of [...counts].sort((a, b) => a - b)) {
    const byIndex = new Map(files.filter((file) => file.shard.count === count).map((file) => [file.shard.index, file.path]));
    const expectedByShard = new Array<number>(count).fill(0);
    if (dataset !== null) for (const sha of dataset.distinct) expectedByShard[shardOf(sha, count)]!++;
    const shards: ShardStatus[] = [];
    for (let index = 0; index < count; index++) {
      const path = byIndex.get(index) ?? join(cacheDir ?? dirname(files.find((f) => f.shard.count === count)?.path ?? '.'),
        shardCacheFileName({ index, count }));
      const exists = byIndex.has(index);
      const report = exists ? await readShardReport(path) : null;
      const shas = exists && key !== null ? withCache(path, (cache) => cache.imageShas(key), [] as string[]) : [];
      const total = exists && key === null ? withCache(path, (cache) => cacheStats(cache).vectors, 0) : shas.length;
      const failures = report?.failed ?? [];
      const sameExtractor = report !== null && (key === null || report.extractorKey === key);
      let done = total, expected: number | null = null, remaining: number | null = null;
      let failed = new Set(failures.filter((f) => f.imageSha !== null).map((f) => f.imageSha)).size;
      if (dataset !== null) {
        expected = expectedByShard[index]!;
        done = shas.filter((sha) => dataset.distinct.has(sha) && shardOf(sha, count) === index).length;
        failed = sameExtractor ? new Set(failures.filter((f) => f.imageSha !== null && dataset.distinct.has(f.imageSha)
          && shardOf(f.imageSha, count) === index).map((f) => f.imageSha)).size : 0;
        remaining = Math.max(0, expected - done - failed);
      }
      const state: ShardState = !exists ? 'missing'
        : !sameExtractor || report.state !== 'complete' ? 'unfinished'
          : remaining !== null && remaining > 0 ? 'incomplete' : 'complete';
      shards.push({
        index, count, path, state, done, expected, failed, remaining,
        worker: report === null ? null
          : { state: report.state, host: report.host, pid: report.pid, startedAt: report.startedAt, finishedAt: report.finishedAt },
        failures: sameExtractor ? failures : [],
      });
    }
    const missing = shards.filter((s) => s.state === 'missing').map((s) => s.index);
    const incomplete = shards.filter((s) => s.state === 'unfinished' || s.state === 'incomplete').map((s) => s.index);
    groups.push({ count, shards, missing, incomplete, complete: missing.length === 0 && incomplete.length === 0 });
  }
  return {
    cacheDir,
    extractorKey: key,
    groups,
    dataset: dataset === null ? null
      : { root: dataset.root, images: dataset.images, distinct: dataset.distinct.size, unreadable: dataset.unreadable },
  };
}

export interface MergeShardCachesOptions {
  /** Dataset, to check every shard against the images it should hold. @defaultValue none */
  data?: string;
  /** Extractor to check with `data` when the shards hold several. @defaultValue the only one */
  extractor?: string;
  /** Merge shards made with different extractors (kept apart in the target). @defaultValue `false` */
  allowMixedExtractors?: boolean;
  onProgress?: ProgressCallback;
}

export interface MergeShardCachesResult {
  readonly target: string;
  readonly merge: MergeResult;
  /** Status of the named shard files (and the ones absent beside them); null when no source is named K-of-N. */
  readonly status: ShardStatusResult | null;
  /** Sources not named `embeddings.shard-K-of-N.sqlite` (merged, but not part of the shard bookkeeping). */
  readonly otherSources: readonly string[];
  /** True when no shard is missing, unfinished or incomplete. */
  readonly complete: boolean;
}

/** `<dir>/embeddings.sqlite` for a folder (existing, or a path without extension), else the path itself. */
export function resolveCacheTarget(target: string): string {
  const path = resolve(target);
  const isDir = existsSync(path) ? statSync(path).isDirectory() : !/\.[A-Za-z0-9]+$/.test(path);
  return isDir ? defaultCachePath(path) : path;
}

/**
 * Merges shard caches into `target` (a cache file, or a folder → `<folder>/embeddings.sqlite`). `sources` are
 * cache files or folders (every shard file in them). Idempotent and safe to rerun: rows are content-addressed and
 * copied with INSERT OR IGNORE. Refuses shards made with different extractors (CACHE_MISMATCH naming the field)
 * before writing anything. Absent and unfinished shards do not stop the merge (a later merge adds them); they are
 * reported in `status` and `complete` is false.
 */
export async function mergeShardCaches(sources: readonly string[], target: string,
  options: MergeShardCachesOptions = {}): Promise<MergeShardCachesResult> {
  if (sources.length === 0) throw new TypeError(`mergeShardCaches: 'sources' is empty.`);
  const targetPath = resolveCacheTarget(target);
  const files: string[] = [];
  for (const source of sources) {
    const path = resolve(source);
    if (existsSync(path) && statSync(path).isDirectory()) {
      const found = listShardFiles(path);
      if (found.length === 0) {
        throw new FinetuneError('FILE_NOT_FOUND', `No shard caches (embeddings.shard-K-of-N.sqlite) in folder "${source}".`,
          'Pass the folder the workers wrote to (their --cache-dir), or the shard files themselves.');
      }
      files.push(...found.map((file) => file.path));
    } else {
      files.push(path);
    }
  }
  const unique = [...new Set(files)].filter((path) => path !== targetPath);
  const merge = mergeCaches(unique, targetPath, options.allowMixedExtractors === true ? { allowMixedExtractors: true } : {});
  const shardFiles = unique.filter((path) => parseShardFileName(path) !== null);
  const otherSources = unique.filter((path) => parseShardFileName(path) === null);
  const status = shardFiles.length === 0 ? null : await shardCacheStatus({
    files: shardFiles,
    ...(options.data !== undefined ? { data: options.data } : {}),
    ...(options.extractor !== undefined ? { extractor: options.extractor } : {}),
    ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
  });
  // Absent shards are found from the names: shard-1-of-4 and shard-3-of-4 given → 0 and 2 are missing.
  return { target: targetPath, merge, status, otherSources, complete: status === null || status.groups.every((group) => group.complete) };
}
