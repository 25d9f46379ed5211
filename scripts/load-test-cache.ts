/**
 * Load test of the embedding cache (not part of `npm test`): 4 `finetune embed` processes fill ONE cache file
 * with the same dataset while a loop kill -9's one of them at random (and restarts it) 20 times. Afterwards the
 * cache must pass `PRAGMA integrity_check`, open with finetune's own reader, and hold exactly the vectors of a clean
 * single-process run, byte for byte.
 *
 *   flock /work/.locks/cpu npx tsx scripts/load-test-cache.ts [--images 2000] [--kills 20] [--workers 4]
 *       [--backbone mobilenet|test] [--batch-size 8] [--seed 1] [--keep]
 *
 * `mobilenet` (default when ../shared is present) is the real mobilenetv2-12-int8: realistic, ~1 batch/s per
 * process. `test` is a small seeded ResNet-like backbone: hundreds of commits per second, so more kills land inside
 * a write. Exit code 0 when every check passed, 1 otherwise. Prints a warning when other processes use the CPU.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { EmbeddingCache } from '../src/embed/embedding-cache.js';
import { writeModel } from '../src/onnx/write-model.js';
import { buildResnetBackbone } from '../src/onnx/test-backbones.js';
import { Rng } from '../src/util/rng.js';
import { writePhotoJpegs } from './lib/photo-jpegs.js';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const index = argv.indexOf(`--${name}`);
  return index >= 0 ? argv[index + 1] ?? fallback : fallback;
};
const repoRoot = resolve(new URL('..', import.meta.url).pathname);
const mobilenetPath = resolve(repoRoot, '..', 'shared', 'zoo', 'validated', 'vision', 'classification', 'mobilenet', 'model', 'mobilenetv2-12-int8.onnx');
const numImages = Number(flag('images', '2000'));
const numKills = Number(flag('kills', '20'));
const numWorkers = Number(flag('workers', '4'));
const backboneKind = flag('backbone', existsSync(mobilenetPath) ? 'mobilenet' : 'test');
const batchSize = flag('batch-size', '8');
const rng = new Rng(Number(flag('seed', '1')));
const keep = argv.includes('--keep');

const log = (line: string): void => { process.stderr.write(`[load-test ${new Date().toISOString().slice(11, 19)}] ${line}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** Warns when the 1-minute load average says other processes use the CPU (before our own processes start). */
function warnIfBusy(when: string): void {
  const [load1] = loadavg();
  if (load1! > 0.5 * availableParallelism()) {
    log(`WARNING: load average ${load1!.toFixed(1)} on ${availableParallelism()} cores ${when}: other processes use the CPU; timings are indicative only`);
  }
}

interface Worker { readonly slot: number; readonly startedAt: number; child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; stderr: string }

function startEmbed(args: readonly string[]): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; output: () => string } {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'finetune.js'), 'embed', ...args], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4000); });
  child.stderr!.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4000); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })));
  return { child, exited, output: () => output };
}

/** Vectors in a cache file right now (0 before it exists), read without disturbing the writers. */
function vectorCount(path: string): number {
  if (!existsSync(path)) return 0;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 2000');
    try {
      return (db.prepare('SELECT count(*) AS n FROM vectors').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return -1;   // schema not created yet, or locked: logged as -1
  }
}

/** Every (extractor, image, variant) → vector bytes (hex) of a cache file, read with plain SQLite. */
function readVectors(path: string): Map<string, string> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT extractor, image_sha, variant, vector FROM vectors').all() as Array<{ extractor: string; image_sha: string; variant: string; vector: Buffer }>;
    return new Map(rows.map((row) => [`${row.extractor}/${row.image_sha}/${row.variant}`, row.vector.toString('hex')]));
  } finally {
    db.close();
  }
}

async function main(): Promise<number> {
  warnIfBusy('before the run');
  const dir = await mkdtemp(join(tmpdir(), 'finetune-load-test-'));
  let failures = 0;
  const check = (ok: boolean, what: string): void => {
    log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failures++;
  };
  try {
    // Dataset: photo-like JPEGs in 4 class folders. Backbone: the real zoo file, or a fast test graph.
    const data = join(dir, 'data');
    await writePhotoJpegs(numImages, (i) => join(data, `class-${i % 4}`, `img-${String(i).padStart(5, '0')}.jpg`));
    let backbone = mobilenetPath;
    if (backboneKind === 'test') {
      backbone = join(dir, 'resnet-test.onnx');
      await writeModel(backbone, buildResnetBackbone({ inputSize: 32, width: 8, seed: 3 }).model);
    }
    const common = ['--data', data, '--backbone', backbone, '--shard', 'none', '--device', 'cpu', '--threads', '1',
      '--batch-size', batchSize, '--offline', '--quiet', '--json'];
    const shared = join(dir, 'shared', 'embeddings.sqlite');
    log(`${numImages} images, backbone ${backboneKind} (${backbone}), batch ${batchSize}, ${numWorkers} workers on one cache, ${numKills} kill -9`);

    // 1. The workers, each restarted after it is killed, until the kills are done and every worker has finished.
    const started = performance.now();
    let kills = 0, restarts = 0, finished = 0;
    const workers: Worker[] = [];
    const launch = (slot: number): Worker => {
      const run = startEmbed([...common, '--cache', shared]);
      const worker: Worker = { slot, startedAt: performance.now(), child: run.child, exited: run.exited, stderr: '' };
      void run.exited.then(({ code, signal }) => {
        worker.stderr = run.output();
        if (signal === null && code !== 0) log(`worker ${slot} exited ${code}: ${run.output().slice(-600)}`);
      });
      return worker;
    };
    for (let slot = 0; slot < numWorkers; slot++) workers.push(launch(slot));
    const killTimes: number[] = [], storedAtKill: number[] = [];
    while (kills < numKills) {
      await sleep(300 + rng.nextInt(2200));
      const running = workers.filter((worker) => worker.child.exitCode === null && worker.child.signalCode === null);
      if (running.length === 0) {
        log(`every worker finished after ${kills} kills: rerun with more --images`);
        break;
      }
      // Prefer workers past their start-up (Node + ONNX Runtime + the cut take ~2 s): they are embedding and writing.
      const busy = running.filter((worker) => performance.now() - worker.startedAt > 2500);
      const pool = busy.length > 0 ? busy : running;
      const victim = pool[rng.nextInt(pool.length)]!;
      const stored = vectorCount(shared);
      victim.child.kill('SIGKILL');
      await victim.exited;
      kills++;
      killTimes.push((performance.now() - started) / 1000);
      storedAtKill.push(stored);
      workers[victim.slot] = launch(victim.slot);
      restarts++;
    }
    const results = await Promise.all(workers.map((worker) => worker.exited));
    for (const [slot, result] of results.entries()) {
      finished += result.code === 0 ? 1 : 0;
      check(result.code === 0, `worker ${slot} finished after the kills (exit ${result.code ?? result.signal})`);
    }
    const loadSeconds = (performance.now() - started) / 1000;
    log(`${kills} kill -9 at ${killTimes.map((t) => t.toFixed(1)).join(', ')} s; ${restarts} restarts; all ${finished} workers done in ${loadSeconds.toFixed(1)} s`);
    log(`vectors in the shared cache at each kill: ${storedAtKill.join(', ')} (of ${numImages})`);

    // 2. Integrity, and the cache opens with finetune's reader.
    const db = new Database(shared, { readonly: true });
    const integrity = (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((row) => row.integrity_check).join('; ');
    db.close();
    check(integrity === 'ok', `PRAGMA integrity_check: ${integrity}`);
    const keysDb = new Database(shared, { readonly: true });
    const keys = (keysDb.prepare('SELECT key FROM extractors').all() as Array<{ key: string }>).map((row) => row.key);
    keysDb.close();
    const cache = EmbeddingCache.open({ path: shared, readonly: true });   // finetune's own reader must accept it
    log(`shared cache: ${keys.map((key) => `extractor ${key.slice(0, 12)}: ${cache.count(key)} vectors`).join('; ')}`);
    cache.close();

    // 3. A clean single-process run into a fresh cache; every vector byte-identical.
    warnIfBusy('before the clean run');
    const clean = join(dir, 'clean', 'embeddings.sqlite');
    const cleanRun = startEmbed([...common, '--cache', clean]);
    const cleanResult = await cleanRun.exited;
    check(cleanResult.code === 0, `clean run (exit ${cleanResult.code ?? cleanResult.signal})`);
    const expected = readVectors(clean);
    const actual = readVectors(shared);
    let different = 0, missing = 0;
    for (const [key, vector] of expected) {
      const other = actual.get(key);
      if (other === undefined) missing++;
      else if (other !== vector) different++;
    }
    const extra = [...actual.keys()].filter((key) => !expected.has(key)).length;
    check(expected.size > 0 && different === 0 && missing === 0 && extra === 0,
      `${actual.size} vectors in the shared cache vs ${expected.size} in the clean run: ${different} differ, ${missing} missing, ${extra} extra`);
    log(failures === 0 ? 'PASSED' : `FAILED (${failures} check(s))`);
    return failures === 0 ? 0 : 1;
  } finally {
    if (keep) log(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
