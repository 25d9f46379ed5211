/**
 * The producer side of an extraction: read and hash the items in chunks (bounded concurrency), look each chunk up
 * in the cache, count hits, other shards and duplicates, and yield the images still to compute in batches of
 * `batchSize`, in item order.
 */
import { readImageFile } from '../image/read-image-file.js';
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
  const { cache, extractorKey, variant, batchSize, concurrency, shard, signal } = options;
  const chunkSize = Math.max(64, 2 * batchSize);
  let misses: PendingImage[] = [];
  for (let chunkStart = 0; chunkStart < tally.total; chunkStart += chunkSize) {
    if (signal?.aborted) throw abortReason(signal);
    const chunkEnd = Math.min(tally.total, chunkStart + chunkSize);
    const indices = Array.from({ length: chunkEnd - chunkStart }, (_, offset) => chunkStart + offset);
    const reads = await mapLimit(indices, concurrency, (index) => readImageFile(tally.pathOf(index)));
    const bytesByIndex = new Map<number, Uint8Array>();
    for (let offset = 0; offset < reads.length; offset++) {
      const read = reads[offset]!, index = chunkStart + offset;
      if (read.ok) {
        tally.setSha(index, read.sha);
        bytesByIndex.set(index, read.bytes);
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
    tally.addCached(cache.getMany(extractorKey, lookup, { variant }));
    for (let index = chunkStart; index < chunkEnd; index++) {
      const sha = tally.shaOf(index);
      const bytes = bytesByIndex.get(index);
      if (sha === undefined || bytes === undefined) continue;
      if (tally.isKnown(sha)) { tally.hit(); continue; }   // cached, or the same content as an image already queued
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
