/**
 * The embedding store: content-addressed feature vectors in one SQLite file (better-sqlite3, WAL).
 *
 * Key = (extractor key, sha256 of the image bytes, variant). The extractor key is
 * sha256(stableStringify(FeatureExtractorSpec)): the backbone file's hash, the cut layer, the pooling and the
 * preprocessing spec. Renaming or moving an image still hits; changing any part of the spec misses. `variant`
 * tells augmented views apart (augment-spec hash + view index); `''` is the original image.
 *
 * Why SQLite in WAL mode is crash-safe here: every batch is written in one transaction, and a committed
 * transaction is in the WAL file before `putMany` returns. `kill -9` cannot lose data the OS already has, so it
 * loses at most the uncommitted batch in flight, and SQLite's journal guarantees the file is never left half
 * written. (`synchronous = NORMAL` only trades durability against power loss, never consistency.) Several
 * processes may read and write the same file: writers take the lock with BEGIN IMMEDIATE and wait up to
 * `busyTimeoutMs` for each other.
 *
 * The store also remembers each image file's sha256 by its stat signature (size, mtime, ctime, inode, device; see
 * {@link fileSignature}), so a rerun finds its hits without reading and hashing every file again. Only hits use
 * that memo: an image that has to be computed is always read and hashed, so a vector is always stored under the hash
 * of the bytes that produced it.
 *
 * This module is the store (open, register, get, put). Administration (stats, listing, prune) is in
 * cache-admin.ts, the NumPy export in export-npy.ts, cross-file merging in merge-caches.ts.
 */
import { existsSync, mkdirSync, type Stats } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { FinetuneError } from '../errors.js';
import type { FeatureExtractorSpec } from '../types.js';
import { sha256, stableStringify } from '../util/hash.js';
import { lazyRequire } from '../util/lazy-require.js';
import { embeddingsDir } from '../util/paths.js';
import { withSqliteErrors, wrapSqliteError } from './cache-errors.js';

/** better-sqlite3, required when the first cache is opened (its native binding loads then), not by importing finetune. */
export const loadSqlite: () => typeof Database = lazyRequire<typeof Database>('better-sqlite3');

/** File name of the store inside its directory. */
export const CACHE_FILE_NAME = 'embeddings.sqlite';
/** `PRAGMA user_version` of the store this code reads and writes. */
export const CACHE_SCHEMA_VERSION = 1;

/** sha256 of the extractor spec in canonical JSON: the non-image half of every cache key. */
export function extractorKey(spec: FeatureExtractorSpec): string {
  return sha256(stableStringify(spec));
}

/** Where the store lives by default: `<finetuneHome>/embeddings/embeddings.sqlite`, or inside `cacheDir`. */
export function defaultCachePath(cacheDir?: string): string {
  return join(cacheDir === undefined ? embeddingsDir() : resolve(cacheDir), CACHE_FILE_NAME);
}

export interface EmbeddingCacheOptions {
  /** Directory holding `embeddings.sqlite` (`--cache-dir`). @defaultValue `<finetuneHome>/embeddings` */
  readonly cacheDir?: string;
  /** Exact file to use instead (one file per shard). Wins over `cacheDir`. */
  readonly path?: string;
  /** Open without writing; the file must exist. @defaultValue `false` */
  readonly readonly?: boolean;
  /** How long a writer waits for another process's transaction. @defaultValue `30000` */
  readonly busyTimeoutMs?: number;
}

export interface VariantOption {
  /** Augmented-view discriminator; `''` is the original image. @defaultValue `''` */
  readonly variant?: string;
}

export interface CacheEntry {
  readonly imageSha: string;
  readonly vector: Float32Array;
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A file's absolute path and the stat taken before its bytes were read. */
export interface StatOfFile {
  readonly path: string;
  readonly stat: Stats;
}

/**
 * A file's identity for the sha memo: size, mtime and ctime (milliseconds as doubles: ~0.25 µs resolution today),
 * inode and device. ctime changes on every write and cannot be set by tools (touch -d sets mtime only). Null when
 * the file changed less than {@link SETTLED_MS} before `nowMs`: on a file system with coarse timestamps, a write in
 * the same tick would leave the signature unchanged (git's "racy" entries), so such files are not remembered.
 * (A plain stat, not `bigint: true`: making BigIntStats cost ~30 µs a file, a tenth of a 1,000-image rerun.)
 */
export function fileSignature(stat: Stats, nowMs: number): string | null {
  if (nowMs - stat.mtimeMs < SETTLED_MS || nowMs - stat.ctimeMs < SETTLED_MS) return null;
  return `${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}:${stat.ino}:${stat.dev}`;
}

/** How long a file must be left unchanged before its sha is remembered: 2 s (FAT's mtime tick). */
export const SETTLED_MS = 2000;

/**
 * A BLOB from SQLite → a Float32Array of `embeddingDim` values that owns its (aligned) memory. A blob of any
 * other length (a damaged or hand-edited row) is CACHE_CORRUPT: using it would shift every feature.
 */
function blobToVector(blob: Buffer, embeddingDim: number, where: { path: string; key: string; imageSha: string }): Float32Array {
  checkBlobLength(blob.byteLength, embeddingDim, where);
  const vector = new Float32Array(embeddingDim);
  new Uint8Array(vector.buffer).set(blob);
  return vector;
}

function checkBlobLength(byteLength: number, embeddingDim: number, where: { path: string; key: string; imageSha: string }): void {
  if (byteLength !== embeddingDim * 4) {
    const size = byteLength % 4 === 0 ? `${byteLength / 4} floats` : `${byteLength} bytes`;
    throw new FinetuneError('CACHE_CORRUPT',
      `The embedding cache "${where.path}" holds a vector of ${size} for image ${where.imageSha.slice(0, 12)}…, ` +
      `but extractor ${where.key.slice(0, 12)} has embeddingDim ${embeddingDim} (${embeddingDim * 4} bytes).`,
      `Drop that extractor's vectors with \`finetune cache prune --extractor ${where.key.slice(0, 12)}\` (they are recomputed on the next run), or move the file away.`);
  }
}

const vectorToBlob = (vector: Float32Array): Buffer => Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);

/** CACHE_MISMATCH when the store's width for an extractor differs from the model's. */
export function checkEmbeddingDim(stored: number, embeddingDim: number): void {
  if (stored !== embeddingDim) {
    throw new FinetuneError('CACHE_MISMATCH',
      `The cache holds ${stored}-d vectors for this extractor, but the model yields ${embeddingDim}-d.`,
      'The backbone changed without its hash changing, or the embeddingDim passed is wrong; check the cut model, or move the cache away (--cache-dir) and re-embed.');
  }
}

export class EmbeddingCache {
  readonly path: string;
  readonly readonly: boolean;
  #db: Database.Database;
  readonly #dims = new Map<string, number>();
  readonly #select: Database.Statement<[string, string, string], { vector: Buffer }>;
  readonly #insert: Database.Statement<[string, string, string, Buffer, number]> | null;

  private constructor(path: string, db: Database.Database, readonlyMode: boolean) {
    this.path = path;
    this.#db = db;
    this.readonly = readonlyMode;
    this.#select = db.prepare('SELECT vector FROM vectors WHERE extractor = ? AND image_sha = ? AND variant = ?');
    this.#insert = readonlyMode ? null : db.prepare(
      'INSERT OR IGNORE INTO vectors (extractor, image_sha, variant, vector, created_at) VALUES (?, ?, ?, ?, ?)');
  }

  /** Opens (creating when needed) the store. Throws CACHE_CORRUPT when the file is not a usable store. */
  static open(options: EmbeddingCacheOptions = {}): EmbeddingCache {
    if (endianness() !== 'LE') {
      throw new FinetuneError('RUNTIME_UNAVAILABLE', 'The embedding cache stores little-endian float32 and needs a little-endian CPU.');
    }
    const path = options.path === undefined ? defaultCachePath(options.cacheDir) : resolve(options.path);
    const readonlyMode = options.readonly ?? false;
    const busyTimeoutMs = options.busyTimeoutMs ?? 30_000;
    if (!Number.isFinite(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new RangeError(`EmbeddingCache.open: 'busyTimeoutMs' must be a non-negative number, got ${busyTimeoutMs}.`);
    }
    if (readonlyMode && !existsSync(path)) {
      throw new FinetuneError('FILE_NOT_FOUND', `No embedding cache at "${path}".`,
        'Run `finetune embed` first, or pass the --cache-dir that holds embeddings.sqlite.');
    }
    let db: Database.Database | undefined;
    try {
      if (!readonlyMode) mkdirSync(dirname(path), { recursive: true });
      const SqliteDatabase = loadSqlite();
      db = new SqliteDatabase(path, { readonly: readonlyMode, timeout: busyTimeoutMs });
      db.pragma(`busy_timeout = ${Math.round(busyTimeoutMs)}`);
      if (!readonlyMode) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        EmbeddingCache.#createSchema(db);
      }
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version !== CACHE_SCHEMA_VERSION) {
        throw new FinetuneError('CACHE_CORRUPT',
          `The embedding cache "${path}" has schema version ${version}, this finetune reads version ${CACHE_SCHEMA_VERSION}.`,
          'Use the finetune version that wrote it, or move the file away and let the next run rebuild it.');
      }
      return new EmbeddingCache(path, db, readonlyMode);
    } catch (cause) {
      db?.close();
      if (cause instanceof FinetuneError) throw cause;
      throw wrapSqliteError(path, cause, 'opening it');
    }
  }

  static #createSchema(db: Database.Database): void {
    db.transaction(() => {
      db.exec(`
        CREATE TABLE IF NOT EXISTS extractors (
          key TEXT PRIMARY KEY,
          spec TEXT NOT NULL,
          embedding_dim INTEGER NOT NULL,
          created_at INTEGER NOT NULL,
          last_used_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS vectors (
          extractor TEXT NOT NULL REFERENCES extractors(key),
          image_sha TEXT NOT NULL,
          variant TEXT NOT NULL DEFAULT '',
          vector BLOB NOT NULL,
          created_at INTEGER NOT NULL,
          PRIMARY KEY (extractor, image_sha, variant)
        );
        CREATE TABLE IF NOT EXISTS file_shas (
          path TEXT PRIMARY KEY,
          signature TEXT NOT NULL,
          image_sha TEXT NOT NULL
        );`);
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version === 0) db.pragma(`user_version = ${CACHE_SCHEMA_VERSION}`);
    }).immediate();
  }

  #writable(method: string): Database.Statement<[string, string, string, Buffer, number]> {
    if (this.#insert === null) throw new TypeError(`EmbeddingCache.${method}: the cache was opened read-only.`);
    return this.#insert;
  }

  /** The width of an extractor's vectors, or throws CACHE_MISMATCH when the extractor is unknown. */
  requireEmbeddingDim(key: string): number {
    const dim = this.embeddingDimOf(key);
    if (dim === null) {
      throw new FinetuneError('CACHE_MISMATCH', `Extractor "${key}" is not registered in "${this.path}".`,
        'Call registerExtractor(spec, embeddingDim) first (extractEmbeddings does).');
    }
    return dim;
  }

  /** The embeddingDim stored for an extractor key, or null when the store does not know it. */
  embeddingDimOf(key: string): number | null {
    const known = this.#dims.get(key);
    if (known !== undefined) return known;
    const row = withSqliteErrors(this.path, 'reading the extractors', () =>
      this.#db.prepare('SELECT embedding_dim FROM extractors WHERE key = ?').get(key) as { embedding_dim: number } | undefined);
    if (row === undefined) return null;
    this.#dims.set(key, row.embedding_dim);
    return row.embedding_dim;
  }

  /**
   * Records an extractor (idempotent) and marks it used now; returns its key. Throws CACHE_MISMATCH when the
   * store already knows the same spec with another embeddingDim.
   */
  registerExtractor(spec: FeatureExtractorSpec, embeddingDim: number): string {
    if (!Number.isInteger(embeddingDim) || embeddingDim <= 0) {
      throw new RangeError(`registerExtractor: 'embeddingDim' must be a positive integer, got ${embeddingDim}.`);
    }
    const key = extractorKey(spec);
    const stored = this.embeddingDimOf(key);
    if (stored !== null) checkEmbeddingDim(stored, embeddingDim);
    if (this.readonly) {
      this.requireEmbeddingDim(key);
      return key;
    }
    const now = nowSeconds();
    try {
      this.#db.transaction(() => {
        this.#db.prepare('INSERT OR IGNORE INTO extractors (key, spec, embedding_dim, created_at, last_used_at) VALUES (?, ?, ?, ?, ?)')
          .run(key, stableStringify(spec), embeddingDim, now, now);
        this.#db.prepare('UPDATE extractors SET last_used_at = ? WHERE key = ?').run(now, key);
      }).immediate();
    } catch (cause) {
      throw wrapSqliteError(this.path, cause, 'registering an extractor');
    }
    checkEmbeddingDim(this.requireEmbeddingDim(key), embeddingDim);
    return key;
  }

  /**
   * Vectors found for `imageShas` (keyed by sha; absent shas are simply missing from the map). An extractor the
   * store does not know has no vectors. A stored vector whose length is not the extractor's embeddingDim throws
   * CACHE_CORRUPT.
   */
  getMany(key: string, imageShas: readonly string[], options: VariantOption = {}): Map<string, Float32Array> {
    const variant = options.variant ?? '';
    const found = new Map<string, Float32Array>();
    const embeddingDim = this.embeddingDimOf(key);
    if (embeddingDim === null) return found;
    withSqliteErrors(this.path, 'reading vectors', () => this.#db.transaction(() => {
      for (const imageSha of imageShas) {
        const row = this.#select.get(key, imageSha, variant);
        if (row !== undefined) found.set(imageSha, blobToVector(row.vector, embeddingDim, { path: this.path, key, imageSha }));
      }
    })());
    return found;
  }

  /**
   * Which of `imageShas` have a vector, without reading the vectors (their stored length is still checked:
   * CACHE_CORRUPT as in getMany).
   */
  hasMany(key: string, imageShas: readonly string[], options: VariantOption = {}): Set<string> {
    const variant = options.variant ?? '';
    const found = new Set<string>();
    const embeddingDim = this.embeddingDimOf(key);
    if (embeddingDim === null || imageShas.length === 0) return found;
    const select = this.#db.prepare<[string, string, string], { bytes: number }>(
      'SELECT length(vector) AS bytes FROM vectors WHERE extractor = ? AND image_sha = ? AND variant = ?');
    withSqliteErrors(this.path, 'reading vectors', () => this.#db.transaction(() => {
      for (const imageSha of imageShas) {
        const row = select.get(key, imageSha, variant);
        if (row === undefined) continue;
        checkBlobLength(row.bytes, embeddingDim, { path: this.path, key, imageSha });
        found.add(imageSha);
      }
    })());
    return found;
  }

  /**
   * Stores vectors in ONE transaction (all or nothing). Existing keys are kept (content-addressed: the same key
   * means the same vector). Returns how many rows were new.
   */
  putMany(key: string, entries: readonly CacheEntry[], options: VariantOption = {}): number {
    const insert = this.#writable('putMany');
    const embeddingDim = this.requireEmbeddingDim(key);
    const variant = options.variant ?? '';
    for (const entry of entries) {
      if (entry.vector.length !== embeddingDim) {
        throw new RangeError(`putMany: vector for ${entry.imageSha} has ${entry.vector.length} values, the extractor's embeddingDim is ${embeddingDim}.`);
      }
    }
    const now = nowSeconds();
    let inserted = 0;
    try {
      this.#db.transaction(() => {
        for (const entry of entries) inserted += insert.run(key, entry.imageSha, variant, vectorToBlob(entry.vector), now).changes;
      }).immediate();
    } catch (cause) {
      throw wrapSqliteError(this.path, cause, 'writing vectors');
    }
    return inserted;
  }

  /**
   * The remembered sha256 of each file whose stat signature still matches (undefined where unknown or changed).
   * A store written before the memo existed, opened read-only, remembers nothing.
   */
  rememberedShas(files: readonly StatOfFile[], nowMs: number = Date.now()): Array<string | undefined> {
    if (files.length === 0 || !this.#hasFileShas()) return files.map(() => undefined);
    const select = this.#db.prepare<[string], { signature: string; image_sha: string }>('SELECT signature, image_sha FROM file_shas WHERE path = ?');
    return withSqliteErrors(this.path, 'reading file hashes', () => this.#db.transaction(() => files.map(({ path, stat }) => {
      const row = select.get(path);
      const signature = row === undefined ? null : fileSignature(stat, nowMs);
      return row !== undefined && signature !== null && row.signature === signature ? row.image_sha : undefined;
    }))());
  }

  /** Remembers the sha256 of files just read and hashed (skipped when read-only or the file changed just now). */
  rememberShas(files: ReadonlyArray<StatOfFile & { readonly imageSha: string }>, nowMs: number = Date.now()): void {
    if (this.readonly || files.length === 0) return;
    const upsert = this.#db.prepare<[string, string, string]>(
      'INSERT INTO file_shas (path, signature, image_sha) VALUES (?, ?, ?) ON CONFLICT (path) DO UPDATE SET signature = excluded.signature, image_sha = excluded.image_sha');
    try {
      this.#db.transaction(() => {
        for (const { path, stat, imageSha } of files) {
          const signature = fileSignature(stat, nowMs);
          if (signature !== null) upsert.run(path, signature, imageSha);
        }
      }).immediate();
    } catch (cause) {
      throw wrapSqliteError(this.path, cause, 'writing file hashes');
    }
  }

  #fileShasTable: boolean | undefined;
  #hasFileShas(): boolean {
    this.#fileShasTable ??= withSqliteErrors(this.path, 'reading the schema', () =>
      this.#db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'file_shas'").get() !== undefined);
    return this.#fileShasTable;
  }

  /** Number of vectors stored for an extractor and variant. */
  count(key: string, options: VariantOption = {}): number {
    return withSqliteErrors(this.path, 'counting vectors', () => (this.#db
      .prepare('SELECT COUNT(*) AS n FROM vectors WHERE extractor = ? AND variant = ?')
      .get(key, options.variant ?? '') as { n: number }).n);
  }

  /** Every image sha stored for an extractor and variant, sorted. */
  imageShas(key: string, options: VariantOption = {}): string[] {
    return withSqliteErrors(this.path, 'listing vectors', () => this.#db
      .prepare('SELECT image_sha FROM vectors WHERE extractor = ? AND variant = ? ORDER BY image_sha')
      .pluck().all(key, options.variant ?? '') as string[]);
  }

  /**
   * Deletes extractors and all their vectors in ONE transaction; returns how many vectors went. Remembered file
   * shas (rememberShas) of images left without any vector go too, so the memo never outgrows the vectors.
   */
  deleteExtractors(keys: Iterable<string>): number {
    this.#writable('deleteExtractors');
    let removedVectors = 0;
    try {
      this.#db.transaction(() => {
        for (const key of keys) {
          removedVectors += this.#db.prepare('DELETE FROM vectors WHERE extractor = ?').run(key).changes;
          this.#db.prepare('DELETE FROM extractors WHERE key = ?').run(key);
          this.#dims.delete(key);
        }
        if (removedVectors > 0 && this.#hasFileShas()) {
          this.#db.prepare('DELETE FROM file_shas WHERE image_sha NOT IN (SELECT image_sha FROM vectors)').run();
        }
      }).immediate();
    } catch (cause) {
      throw wrapSqliteError(this.path, cause, 'deleting extractors');
    }
    return removedVectors;
  }

  /** The underlying connection, for cache-admin.ts and merge-caches.ts. @internal */
  get database(): Database.Database {
    return this.#db;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
