/** The backbone's sha256 is computed once per version of the file (issue 17: no rehashing a 550 MB VGG16 each run). */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { sha256FileCached } from '../../src/util/file-hash-cache.js';
import { sha256 } from '../../src/util/hash.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'finetune-hash-cache-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

it('reuses the recorded hash while the file is unchanged, and rehashes once it changes', async () => {
  const home = join(dir, 'home');
  const file = join(dir, 'model.onnx');
  await writeFile(file, 'version one');
  assert.equal(await sha256FileCached(file, { home }), sha256('version one'));
  // The record is what answers next time: tamper with it and the tampered value comes back.
  const recordPath = join(home, 'file-hashes.json');
  const record = JSON.parse(await readFile(recordPath, 'utf8')) as { entries: Record<string, { sha256: string }> };
  assert.equal(record.entries[file]?.sha256, sha256('version one'));
  record.entries[file]!.sha256 = 'f'.repeat(64);
  await writeFile(recordPath, JSON.stringify(record));
  assert.equal(await sha256FileCached(file, { home }), 'f'.repeat(64), 'unchanged file: no rehash');
  // Same size, mtime put back: the ctime still moves, so the file is hashed again.
  const before = await stat(file);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await writeFile(file, 'version two');
  await utimes(file, before.atime, before.mtime);
  assert.equal(await sha256FileCached(file, { home }), sha256('version two'));
  // A damaged record is ignored.
  await writeFile(recordPath, '{ not json');
  assert.equal(await sha256FileCached(file, { home }), sha256('version two'));
});
