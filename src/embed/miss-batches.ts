/**
 * The producer side of an extraction: read and hash the items in chunks (bounded concurrency), look each chunk up
 * in the cache, count hits, other shards and duplicates, and yield the images still to compute in batches of
 * `batchSize`, in item order. A file whose stat signature matches the sha the cache remembers for it
 * (EmbeddingCache.rememberedShas) and whose vector is cached is a hit without being read; every other file is read
 * and hashed, and its sha remembered.
 */
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { readImageFile, type ReadImageFileResult } from '../image/read-image-file.js';
import { mapLimit } from '../util/map-limit.js';
import { abortReason } from '../util/run-ahead.js';
import type { EmbeddingCache } from './embedding-cache.js';
import type { ExtractionTally } from './extraction-tally.js';
import { shardOf } from './shard-of.js';

/** An image to compute: its item index, content hash and bytes (dropped once decoded). */
export interface PendingImage {
  readonly index: number;
  readonly sha: string;
  bytes: Uint8Array | null;
}

export interface MissBatchesOptions {
  readonly cache: EmbeddingCache;
  readonly extractorKey: string;
  readonly variant: string;
  readonly batchSize: number;
  /** Files read and hashed at once. */
  readonly concurrency: number;
  readonly shard: { readonly index: number; readonly count: number } | undefined;
  readonly signal: AbortSignal | undefined;
  /** Called after each chunk's lookup (for a progress event). */
  readonly onChunk: () => void;
}

/** Yields the cache misses of `tally`'s items in batches; see the file comment. */
export async function* missBatches(tally: ExtractionTally, options: MissBatchesOptions): AsyncGenerator<PendingImage[]> {
  const { cache, extractorKey, variant, batchSize, shard, signal } = options;
  const chunkSize = Math.max(64, 2 * batchSize);
  let misses: PendingImage[] = [];
  for (let chunkStart = 0; chunkStart < tally.total; chunkStart += chunkSize) {
    if (signal?.aborted) throw abortReason(signal);
    const chunkEnd = Math.min(tally.total, chunkStart + chunkSize);
    const indices = Array.from({ length: chunkEnd - chunkStart }, (_, offset) => chunkStart + offset);
    const reads = await readUnlessRemembered(tally, indices, options);
    const bytesByIndex = new Map<number, Uint8Array>();
    for (let offset = 0; offset < reads.length; offset++) {
      const read = reads[offset]!, index = chunkStart + offset;
      if (read.ok) {
        tally.setSha(index, read.sha);
        if (read.bytes !== null) bytesByIndex.set(index, read.bytes);
      } else {
        tally.fail(index, read.reason, read.error);
      }
    }
    // Look up what is new, in item order.
    const lookup: string[] = [];
    for (let index = chunkStart; index < chunkEnd; index++) {
      const sha = tally.shaOf(index);
      if (sha === undefined) continue;
      if (shard !== undefined && shardOf(sha, shard.count) !== shard.index) {
        tally.skipOtherShard();
        bytesByIndex.delete(index);
        continue;
      }
      if (!tally.isKnown(sha)) lookup.push(sha);
    }
    tally.addCached(findCached(tally, cache, extractorKey, lookup, variant));
    for (let index = chunkStart; index < chunkEnd; index++) {
      const sha = tally.shaOf(index);
      const bytes = bytesByIndex.get(index);
      if (sha === undefined) continue;
      if (tally.isKnown(sha)) { tally.hit(); continue; }   // cached, or the same content as an image already queued
      if (bytes === undefined) continue;   // another shard's
      tally.queue(sha);
      misses.push({ index, sha, bytes });
    }
    options.onChunk();
    while (misses.length >= batchSize) {
      yield misses.slice(0, batchSize);
      misses = misses.slice(batchSize);
    }
  }
  if (misses.length > 0) yield misses;
}

/** A read, or a remembered sha whose vector is cached (`bytes` null: the file was not read). */
type ChunkRead = ReadImageFileResult | { readonly ok: true; readonly bytes: null; readonly sha: string };

/** The cached vectors of `shas` when the tally collects features; else only which of them are cached (no vector read). */
function findCached(tally: ExtractionTally, cache: EmbeddingCache, extractorKey: string, shas: readonly string[], variant: string):
  ReadonlyMap<string, Float32Array> | ReadonlySet<string> {
  return tally.collectFeatures ? cache.getMany(extractorKey, shas, { variant }) : cache.hasMany(extractorKey, shas, { variant });
}

/**
 * Each file of the chunk: stat it; a sha the cache remembers for that stat whose vector is cached (or that falls in
 * another shard) needs no read; the rest are read and hashed, and their shas remembered under the stat taken before
 * the read (a file changed meanwhile gets a new ctime, so it never matches a stale entry).
 */
async function readUnlessRemembered(tally: ExtractionTally, indices: readonly number[], options: MissBatchesOptions): Promise<ChunkRead[]> {
  const { cache, extractorKey, variant, concurrency, shard } = options;
  const paths = indices.map((index) => { const path = tally.pathOf(index); return isAbsolute(path) ? path : resolve(path); });
  const stats = await mapLimit(paths, concurrency, (path) => stat(path).then((s) => s, () => null));
  const statted = paths.flatMap((path, offset) => (stats[offset] === null ? [] : [{ path, stat: stats[offset]!, offset }]));
  const remembered = new Array<string | undefined>(paths.length);
  cache.rememberedShas(statted).forEach((sha, at) => { remembered[statted[at]!.offset] = sha; });
  const candidates = [...new Set(remembered.filter((sha): sha is string => sha !== undefined && !tally.isKnown(sha)))];
  // Without features to collect, only whether a vector exists matters: its bytes are not read.
  const cached = findCached(tally, cache, extractorKey, candidates, variant);
  const settled = (sha: string | undefined): sha is string =>
    sha !== undefined && (cached.has(sha) || tally.isKnown(sha) || (shard !== undefined && shardOf(sha, shard.count) !== shard.index));
  tally.addCached(cached);
  const toRead = paths.map((_, offset) => offset).filter((offset) => !settled(remembered[offset]));
  const reads = await mapLimit(toRead, concurrency, (offset) => readImageFile(tally.pathOf(indices[offset]!)));
  const out: ChunkRead[] = remembered.map((sha) => ({ ok: true, bytes: null, sha: sha! }));
  const learned: Array<{ path: string; stat: Stats; imageSha: string }> = [];
  toRead.forEach((offset, at) => {
    const read = reads[at]!;
    out[offset] = read;
    const fileStat = stats[offset];
    if (read.ok && fileStat !== null && fileStat !== undefined && read.sha !== remembered[offset]) {
      learned.push({ path: paths[offset]!, stat: fileStat, imageSha: read.sha });
    }
  });
  cache.rememberShas(learned);
  return out;
}
