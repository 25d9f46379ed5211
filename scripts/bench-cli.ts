/**
 * CLI start-up: `finetune --help` and the one-shot run's start-up overhead, run from the TypeScript sources through
 * tsx (how bin/finetune.js ran before the package was compiled), from tsc's unbundled output, and from the shipped
 * bin (dist/cli/finetune.js, bundled by scripts/build.js), against bare `node` as the floor. Median of 10 runs after
 * a warm-up. Issue 15's target: `--help` ≤ 0.3 s.
 *
 * The one-shot overhead is the wall time of `finetune --backbone <missing .onnx> --data <2 classes>`: parsing, loading
 * the workflow's modules and scanning the dataset, up to its first check (the backbone file does not exist).
 * The embed rerun is `finetune embed` on 8 small PNGs whose vectors are all in the cache (MobileNetV2-int8 from
 * ../shared/zoo; the rows are left out without it): a whole run that computes nothing, so start-up, scan and lookup
 * (issue 17's reruns). The first (warm-up) run fills the cache.
 *
 * Usage: npm run bench -- cli   (builds dist/ first)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { SETTLED_MS } from '../src/embed/embedding-cache.js';
import { watchCpuContention } from './lib/cpu-contention.js';
import { median } from './lib/stats.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const REPEATS = 10;

const build = spawnSync(process.execPath, [join(root, 'scripts/build.js')], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) throw new Error('the build failed');

const contention = watchCpuContention();   // the runs below are waited-for children: counted as our own CPU time
const data = mkdtempSync(join(tmpdir(), 'finetune-bench-cli-'));
for (const label of ['a', 'b']) {
  mkdirSync(join(data, label));
  for (let i = 0; i < 3; i++) writeFileSync(join(data, label, `${i}.png`), 'not decoded before the backbone check');
}

// 8 photos for the embed rerun, dated in the past: files younger than SETTLED_MS are hashed again on every run.
const mobilenet = join(root, '..', 'shared', 'zoo', 'validated', 'vision', 'classification', 'mobilenet', 'model', 'mobilenetv2-12-int8.onnx');
const photos = join(data, 'photos');
const past = new Date(Date.now() - 10 * SETTLED_MS);
for (const [label, red] of [['warm', 220], ['cold', 30]] as const) {
  mkdirSync(join(photos, label), { recursive: true });
  for (let i = 0; i < 4; i++) {
    const path = join(photos, label, `${i}.png`);
    await sharp({ create: { width: 96, height: 64, channels: 3, background: { r: red, g: 40 * i, b: 255 - red } } }).png().toFile(path);
    utimesSync(path, past, past);
  }
}
const embedRerun = ['embed', '--backbone', mobilenet, '--data', photos, '--cache-dir', join(data, 'cache'), '--json', '--quiet'];

/** Wall seconds of `node <args>`: one warm-up, then REPEATS runs. */
function time(args: readonly string[], expectStatus: number): number[] {
  const seconds: number[] = [];
  for (let run = 0; run <= REPEATS; run++) {
    const started = performance.now();
    const result = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const elapsed = (performance.now() - started) / 1000;
    if (result.status !== expectStatus) throw new Error(`node ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
    if (run > 0) seconds.push(elapsed);
  }
  return seconds.sort((a, b) => a - b);
}

const oneShot = ['--backbone', join(data, 'missing.onnx'), '--data', data];
const rows = [
  { what: 'node -e 0 (floor)', args: ['-e', '0'], status: 0 },
  { what: '--help, sources via tsx (before)', args: ['bin/finetune.js', '--help'], status: 0 },
  { what: '--help, tsc output unbundled (dist/cli/bin.js)', args: ['dist/cli/bin.js', '--help'], status: 0 },
  { what: '--help, shipped bin (dist/cli/finetune.js)', args: ['dist/cli/finetune.js', '--help'], status: 0 },
  { what: 'one-shot start-up, sources via tsx (before)', args: ['bin/finetune.js', ...oneShot], status: 1 },
  { what: 'one-shot start-up, shipped bin (after)', args: ['dist/cli/finetune.js', ...oneShot], status: 1 },
  { what: '--version, shipped bin', args: ['dist/cli/finetune.js', '--version'], status: 0 },
  ...existsSync(mobilenet) ? [
    { what: 'embed rerun (8 cached), tsc output unbundled', args: ['dist/cli/bin.js', ...embedRerun], status: 0 },
    { what: 'embed rerun (8 cached), shipped bin', args: ['dist/cli/finetune.js', ...embedRerun], status: 0 },
  ] : [],
].map((row) => ({ ...row, seconds: time(row.args, row.status) }));
if (existsSync(mobilenet)) {   // the rerun rows measured runs that found every vector in the cache
  const rerun = spawnSync(process.execPath, ['dist/cli/finetune.js', ...embedRerun], { cwd: root, encoding: 'utf8' });
  if (!/"status":"done"[^}]*"cacheHits":8,"computed":0/.test(rerun.stdout + rerun.stderr)) throw new Error(`the embed rerun was not all cache hits: ${rerun.stderr}`);
}
rmSync(data, { recursive: true, force: true });

const floor = median(rows[0]!.seconds);
console.log(`\nCLI start-up, median of ${REPEATS} runs after a warm-up (min–max), on ${process.version}`);
console.log(`${'what'.padEnd(46)}${'median s'.padStart(10)}${'min–max s'.padStart(14)}${'over node'.padStart(11)}`);
for (const { what, seconds } of rows) {
  const m = median(seconds);
  console.log(`${what.padEnd(46)}${m.toFixed(3).padStart(10)}${`${seconds[0]!.toFixed(2)}–${seconds.at(-1)!.toFixed(2)}`.padStart(14)}` +
    `${(m - floor).toFixed(3).padStart(11)}`);
}
const helpAfter = median(rows.find((row) => row.what.startsWith('--help, shipped'))!.seconds);
console.log(`--help of the shipped bin: ${helpAfter.toFixed(3)} s (target ≤ 0.3 s: ${helpAfter <= 0.3 ? 'met' : 'NOT met'}); ` +
  `${(median(rows[1]!.seconds) / helpAfter).toFixed(1)}× faster than through tsx`);
const warning = contention.warning();
if (warning !== null) console.log(warning);
