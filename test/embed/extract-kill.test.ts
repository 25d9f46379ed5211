import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import Database from 'better-sqlite3';
import { EmbeddingCache, extractorKey } from '../../src/embed/embedding-cache.js';
import { extractEmbeddings } from '../../src/embed/extract-embeddings.js';
import { tinyExtractor, writeImages } from './fixtures/embed-fixtures.js';

const worker = new URL('./fixtures/extract-worker.ts', import.meta.url).pathname;
let dir: string;
let listPath: string;
let images: string[];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-kill-'));
  images = await writeImages(join(dir, 'images'), 300, { size: 10 });
  listPath = join(dir, 'list.txt');
  await writeFile(listPath, images.join('\n'));
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

interface WorkerRun { lines: Array<Record<string, unknown>>; code: number | null; signal: NodeJS.Signals | null }

/** Runs the worker; with `killAfterComputed`, sends SIGKILL once a progress line reports that many computed. */
function runWorker(cacheDir: string, args: string[], killAfterComputed?: number): Promise<WorkerRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, listPath, cacheDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Array<Record<string, unknown>> = [];
    let buffered = '', stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>;
        buffered = buffered.slice(newline + 1);
        lines.push(line);
        if (killAfterComputed !== undefined && typeof line['computed'] === 'number' && line['computed'] >= killAfterComputed) {
          child.kill('SIGKILL');
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (killAfterComputed === undefined && code !== 0) reject(new Error(`worker exited ${code}: ${stderr}`));
      else resolve({ lines, code, signal });
    });
  });
}

it('kill -9 mid-extraction loses at most the batch in flight; a rerun computes exactly the rest', async () => {
  const cacheDir = join(dir, 'killed');
  const killed = await runWorker(cacheDir, ['--slow-ms', '15'], 40);
  assert.equal(killed.signal, 'SIGKILL', 'the worker was killed, not finished');
  assert.ok(!killed.lines.some((line) => 'result' in line), 'it never reached the end');
  const reported = Math.max(...killed.lines.map((line) => (typeof line['computed'] === 'number' ? line['computed'] : 0)));

  const key = extractorKey(tinyExtractor().spec);
  const db = new Database(join(cacheDir, 'embeddings.sqlite'));
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
  const afterKill = EmbeddingCache.open({ cacheDir });
  const stored = afterKill.count(key);
  afterKill.close();
  assert.ok(stored >= reported, `every batch reported done is stored (${stored} ≥ ${reported})`);
  assert.ok(stored <= reported + 8 && stored < 300, `at most one more batch was written (${stored})`);

  const rerun = await runWorker(cacheDir, []);
  const summary = rerun.lines.at(-1)!['result'] as { computed: number; cacheHits: number; failed: number };
  assert.deepEqual(summary, { computed: 300 - stored, cacheHits: stored, failed: 0 });

  // The resumed store equals an uninterrupted run's.
  const fresh = EmbeddingCache.open({ cacheDir: join(dir, 'fresh') });
  await extractEmbeddings(images.map((path) => ({ path })), tinyExtractor(), { cache: fresh, device: 'cpu', batchSize: 8 });
  const resumed = EmbeddingCache.open({ cacheDir, readonly: true });
  const shas = fresh.imageShas(key);
  assert.equal(shas.length, 300);
  assert.deepEqual(resumed.imageShas(key), shas);
  const expected = fresh.getMany(key, shas);
  const actual = resumed.getMany(key, shas);
  for (const sha of shas) {
    const a = actual.get(sha)!, e = expected.get(sha)!;
    for (let i = 0; i < e.length; i++) assert.ok(Math.abs(a[i]! - e[i]!) <= 1e-5 * (1 + Math.abs(e[i]!)), `${sha}[${i}]`);
  }
  fresh.close();
  resumed.close();
});
