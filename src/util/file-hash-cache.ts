/**
 * sha256 of large files (backbones) remembered by identity (path, size, mtime, ctime, inode, device) in
 * `<home>/file-hashes.json`, so a 550 MB VGG16 passed by path is hashed once, not on every run. Writing a file
 * changes its ctime (and mtime, size), so a stale hash is never returned. The record is a cache: unreadable or
 * concurrent writes lose entries, never correctness.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from './fs.js';
import { isSha256Hex, sha256File } from './hash.js';
import { finetuneHome } from './paths.js';

const FILE_NAME = 'file-hashes.json';
const VERSION = 1;
/** Entries kept; the oldest go first. */
const MAX_ENTRIES = 256;

interface Entry {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
  readonly dev: number;
  readonly sha256: string;
  readonly hashedAt: number;
}

interface HashRecord {
  readonly version: typeof VERSION;
  readonly entries: { [path: string]: Entry };
}

async function readRecord(path: string): Promise<HashRecord> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as HashRecord;
    if (parsed.version === VERSION && parsed.entries !== null && typeof parsed.entries === 'object') return parsed;
  } catch { /* absent or damaged: start afresh */ }
  return { version: VERSION, entries: {} };
}

export interface HashCacheOptions {
  /** finetune's home, where `file-hashes.json` lives. @defaultValue `$FINETUNE_HOME`, else `~/.cache/finetune` */
  readonly home?: string;
}

/** The file's sha256 (hex), from the record when the file is unchanged, else computed and recorded. */
export async function sha256FileCached(file: string, options: HashCacheOptions = {}): Promise<string> {
  const path = resolve(file);
  const recordPath = join(finetuneHome(options.home), FILE_NAME);
  const info = await stat(path, { bigint: false });
  const record = await readRecord(recordPath);
  const known = record.entries[path];
  if (known !== undefined && known.size === info.size && known.mtimeMs === info.mtimeMs && known.ctimeMs === info.ctimeMs
    && known.ino === info.ino && known.dev === info.dev && isSha256Hex(known.sha256)) return known.sha256;
  const sha256 = await sha256File(path);
  const after = await stat(path);
  if (after.mtimeMs !== info.mtimeMs || after.ctimeMs !== info.ctimeMs || after.size !== info.size) return sha256;   // changed while hashing
  const kept = Object.entries(record.entries).filter(([key]) => key !== path)
    .sort(([, a], [, b]) => b.hashedAt - a.hashedAt).slice(0, MAX_ENTRIES - 1);
  const entries = Object.fromEntries([[path, { size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino,
    dev: info.dev, sha256, hashedAt: Date.now() } satisfies Entry], ...kept]);
  await writeFileAtomic(recordPath, `${JSON.stringify({ version: VERSION, entries } satisfies HashRecord)}\n`).catch(() => undefined);
  return sha256;
}
