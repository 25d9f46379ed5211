/**
 * Issue 14, defect 8: cache failures are reported as what they are. A damaged page is CACHE_CORRUPT from every
 * entry point (not an "internal error"), a lock held by another process is CACHE_BUSY (not corruption), and a
 * stored vector of the wrong length is refused on read instead of being used.
 */
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { cacheStats, listExtractors, pruneCache } from '../../src/embed/cache-admin.js';
import { EmbeddingCache } from '../../src/embed/embedding-cache.js';
import { FinetuneError } from '../../src/errors.js';
import { sha256 } from '../../src/util/hash.js';
import { runCli } from '../cli/helpers.js';
import { expectedVector, TEST_SPEC } from './fixtures/cache-fixtures.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'finetune-cache-errors-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const DIM = 64;

/** A cache with enough vectors to span many pages, checkpointed into the main file. */
function writeCache(path: string, count = 300): string {
  const cache = EmbeddingCache.open({ path });
  const key = cache.registerExtractor(TEST_SPEC, DIM);
  const shas = Array.from({ length: count }, (_, i) => sha256(`image-${i}`));
  cache.putMany(key, shas.map((imageSha) => ({ imageSha, vector: expectedVector(imageSha, DIM) })));
  cache.database.pragma('wal_checkpoint(TRUNCATE)');
  cache.close();
  return key;
}

/** Overwrites every page after the first (header and schema stay readable, so the file still opens). */
async function corruptPagesAfterFirst(path: string): Promise<void> {
  const size = (await stat(path)).size;
  const handle = await open(path, 'r+');
  try {
    await handle.write(Buffer.alloc(size - 4096, 0x5a), 0, size - 4096, 4096);
  } finally {
    await handle.close();
  }
}

const isCode = (code: string) => (error: unknown): boolean => {
  assert.ok(error instanceof FinetuneError, `expected a FinetuneError, got ${String(error)}`);
  assert.equal(error.code, code);
  return true;
};

describe('cache errors (issue 14, defect 8)', () => {
  it('a damaged page is CACHE_CORRUPT from stats, listExtractors and reads, and the CLI says so', async () => {
    const path = join(dir, 'damaged', 'embeddings.sqlite');
    const key = writeCache(path);
    await corruptPagesAfterFirst(path);
    const cache = EmbeddingCache.open({ path, readonly: true });
    try {
      assert.throws(() => cacheStats(cache), isCode('CACHE_CORRUPT'));
      assert.throws(() => listExtractors(cache), isCode('CACHE_CORRUPT'));
      assert.throws(() => cache.getMany(key, [sha256('image-1')]), isCode('CACHE_CORRUPT'));
      assert.throws(() => cache.count(key), isCode('CACHE_CORRUPT'));
    } finally {
      cache.close();
    }
    for (const command of ['info', 'ls']) {
      const run = await runCli(['cache', command, '--cache', path]);
      assert.equal(run.code, 1, run.stderr);
      assert.doesNotMatch(run.stderr, /internal error|this is a bug/);
      assert.match(run.stderr, /^error: The embedding cache ".*" is damaged/m);
      assert.match(run.stderr, /hint: Move the file away/);
    }
  });

  it('a lock held by another process is CACHE_BUSY, not corruption', () => {
    const path = join(dir, 'busy.sqlite');
    const key = writeCache(path, 2);
    // In WAL mode readers never wait; a writer waits for another writer's transaction, up to busyTimeoutMs.
    const writer = EmbeddingCache.open({ path, busyTimeoutMs: 20 });
    const holder = new Database(path);
    holder.exec('BEGIN IMMEDIATE');
    try {
      assert.throws(() => writer.putMany(key, [{ imageSha: sha256('new'), vector: new Float32Array(DIM) }]), (error: unknown) => {
        isCode('CACHE_BUSY')(error);
        assert.match((error as FinetuneError).message, /locked by another process/);
        assert.match((error as FinetuneError).hint ?? '', /busy/i);
        return true;
      });
      assert.throws(() => writer.registerExtractor({ ...TEST_SPEC, layer: 'other' }, DIM), isCode('CACHE_BUSY'));
      assert.throws(() => pruneCache(writer, { all: true }), isCode('CACHE_BUSY'));
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
      writer.close();
    }
  });

  it('refuses a stored vector of the wrong length on read, naming both lengths', () => {
    const path = join(dir, 'short.sqlite');
    const key = writeCache(path, 3);
    const db = new Database(path);
    const bad = sha256('image-1'), odd = sha256('image-2');
    db.prepare('UPDATE vectors SET vector = zeroblob(?) WHERE image_sha = ?').run((DIM - 1) * 4, bad);
    db.prepare('UPDATE vectors SET vector = zeroblob(?) WHERE image_sha = ?').run(DIM * 4 - 2, odd);
    db.close();
    const cache = EmbeddingCache.open({ path, readonly: true });
    try {
      assert.equal(cache.getMany(key, [sha256('image-0')]).size, 1, 'intact rows still read');
      assert.deepEqual(cache.hasMany(key, [sha256('image-0'), sha256('absent')]), new Set([sha256('image-0')]));
      for (const [sha, text, read] of [[bad, `${DIM - 1} floats`, 'getMany'], [odd, `${DIM * 4 - 2} bytes`, 'getMany'],
        [bad, `${DIM - 1} floats`, 'hasMany']] as const) {
        assert.throws(() => cache[read](key, [sha256('image-0'), sha]), (error: unknown) => {
          isCode('CACHE_CORRUPT')(error);
          const { message, hint } = error as FinetuneError;
          assert.ok(message.includes(text), message);
          assert.ok(message.includes(`${DIM}`), message);
          assert.ok(message.includes(sha.slice(0, 12)), message);
          assert.doesNotMatch(hint ?? '', /disk space/);
          assert.match(hint ?? '', /cache prune --extractor/);
          return true;
        });
      }
    } finally {
      cache.close();
    }
  });
});
