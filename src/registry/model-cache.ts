/**
 * The on-disk model cache: `<home>/models/<zoo path>` plus a `<file>.sha256` sidecar written after the
 * file's sha256 was verified. Backs `finetune models list | info | rm`; results are plain JSON.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isSha256Hex, sha256File } from '../util/hash.js';
import { writeFileAtomic } from '../util/fs.js';
import { modelsDir } from '../util/paths.js';
import { getModel, listModels } from './catalog.js';
import type { ZooEntry } from './catalog.js';

/**
 * `verified`: right size and a sidecar with the catalog sha256. `unverified`: right size, no (or another) sidecar:
 * it is hashed on next use. `size-mismatch`: wrong size; the next pull replaces it. `missing`: not downloaded.
 */
export type CacheStatus = 'missing' | 'verified' | 'unverified' | 'size-mismatch';

export interface ModelInfo {
  readonly id: string;
  readonly entry: ZooEntry;
  /** True when a file of the right size is there (`verified` or `unverified`). */
  readonly cached: boolean;
  readonly status: CacheStatus;
  /** Where the model lives (or will live) in the cache. */
  readonly path: string;
  /** Size of the cached file, or null when missing. */
  readonly sizeBytes: number | null;
  /** Bytes of an unfinished download (`<path>.part`), or null. */
  readonly partialBytes: number | null;
}

export interface CachedModel {
  readonly id: string;
  readonly path: string;
  readonly sizeBytes: number;
  readonly status: Exclude<CacheStatus, 'missing'>;
}

export interface RemoveModelResult {
  readonly id: string;
  readonly path: string;
  /** False when nothing was cached. */
  readonly removed: boolean;
  /** Bytes deleted (model, sidecar and any partial download). */
  readonly freedBytes: number;
}

/** Where `entry` is cached under `home` (see finetuneHome). */
export function cachedModelPath(entry: Pick<ZooEntry, 'path'>, home?: string): string {
  return join(modelsDir(home), ...entry.path.split('/'));
}

export const sidecarPath = (modelPath: string): string => `${modelPath}.sha256`;
export const partialPath = (modelPath: string): string => `${modelPath}.part`;
export const lockPath = (modelPath: string): string => `${modelPath}.lock`;

async function sizeOf(path: string): Promise<number | null> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : null;
  } catch {
    return null;
  }
}

/** The sha256 recorded in the sidecar of `modelPath`, or null. */
export async function readSidecar(modelPath: string): Promise<string | null> {
  try {
    const text = await readFile(sidecarPath(modelPath), 'utf8');
    const sha = text.trim().split(/\s+/)[0] ?? '';
    return isSha256Hex(sha) ? sha : null;
  } catch {
    return null;
  }
}

/** Records a verified sha256 beside the model, in `sha256sum -c` format. */
export async function writeSidecar(modelPath: string, sha: string): Promise<void> {
  await writeFileAtomic(sidecarPath(modelPath), `${sha}  ${basename(modelPath)}\n`);
}

/** The cache status of `entry` without hashing (cheap enough for `models list`). */
export async function cacheStatus(entry: ZooEntry, home?: string): Promise<{ status: CacheStatus; path: string; sizeBytes: number | null }> {
  const path = cachedModelPath(entry, home);
  const sizeBytes = await sizeOf(path);
  if (sizeBytes === null) return { status: 'missing', path, sizeBytes };
  if (sizeBytes !== entry.sizeBytes) return { status: 'size-mismatch', path, sizeBytes };
  const recorded = await readSidecar(path);
  return { status: recorded === entry.sha256 ? 'verified' : 'unverified', path, sizeBytes };
}

/**
 * Whether the cache holds a good copy of `entry`, hashing at most once: a file with the right size and a matching
 * sidecar is trusted (unless `rehash`); one without a sidecar is hashed and gets a sidecar if it matches.
 * A file of the wrong size or the wrong sha256 is deleted, and the reason returned.
 */
export async function checkCachedModel(
  entry: ZooEntry, home?: string, rehash = false,
): Promise<{ ok: true; path: string } | { ok: false; path: string; reason: string | null }> {
  const { status, path, sizeBytes } = await cacheStatus(entry, home);
  if (status === 'missing') return { ok: false, path, reason: null };
  if (status === 'verified' && !rehash) return { ok: true, path };
  if (status !== 'size-mismatch') {
    const actual = await sha256File(path);
    if (actual === entry.sha256) {
      if (status !== 'verified') await writeSidecar(path, actual);
      return { ok: true, path };
    }
    await removeCachedFiles(path);
    return { ok: false, path, reason: `the cached file had sha256 ${actual}, expected ${entry.sha256}; it was deleted` };
  }
  await removeCachedFiles(path);
  return { ok: false, path, reason: `the cached file had ${sizeBytes} bytes, expected ${entry.sizeBytes}; it was deleted` };
}

/** Deletes the model, its sidecar and partial download; returns how many files and bytes went. */
async function removeCachedFiles(path: string): Promise<{ files: number; bytes: number }> {
  let files = 0, bytes = 0;
  for (const file of [path, sidecarPath(path), partialPath(path)]) {
    const size = await sizeOf(file);
    if (size === null) continue;
    await rm(file, { force: true });
    files++;
    bytes += size;
  }
  return { files, bytes };
}

/** Catalog entry plus cache status for `finetune models info <id>`; throws MODEL_NOT_FOUND for unknown ids. */
export async function modelInfo(idOrAlias: string, home?: string): Promise<ModelInfo> {
  const entry = getModel(idOrAlias);
  const { status, path, sizeBytes } = await cacheStatus(entry, home);
  return {
    id: entry.id,
    entry,
    cached: status === 'verified' || status === 'unverified',
    status,
    path,
    sizeBytes,
    partialBytes: await sizeOf(partialPath(path)),
  };
}

/** The catalog models present in the cache (any status but `missing`), in catalog order. */
export async function listCachedModels(home?: string): Promise<CachedModel[]> {
  const cached: CachedModel[] = [];
  for (const entry of listModels()) {
    const { status, path, sizeBytes } = await cacheStatus(entry, home);
    if (status === 'missing' || sizeBytes === null) continue;
    cached.push({ id: entry.id, path, sizeBytes, status });
  }
  return cached;
}

/** Deletes a cached model, its sidecar and any partial download; throws MODEL_NOT_FOUND for unknown ids. */
export async function removeModel(idOrAlias: string, home?: string): Promise<RemoveModelResult> {
  const entry = getModel(idOrAlias);
  const path = cachedModelPath(entry, home);
  const { files, bytes } = await removeCachedFiles(path);
  return { id: entry.id, path, removed: files > 0, freedBytes: bytes };
}
