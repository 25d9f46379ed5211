/**
 * Extraction at the ceiling of the machine (issue 17 §2). For a ResNet-like fp32 backbone (generated with the
 * repo's graph builder, ResNet-18-sized) and MobileNetV2-int8 (../shared/zoo), on photo-like 640×480 JPEGs and on
 * 12-megapixel ones, all measured in the same run:
 *  - raw ORT: onnxruntime-node alone on pre-made input tensors (session load not counted): one session per backbone,
 *    one rep (≥ 128 images) before the first end-to-end run, one between every two, one after the last; the median
 *    of all of them, printed with its min–max, so one noisy sample cannot decide the ceiling;
 *  - decode alone: read + sharp decode + resize + crop + normalise with every core busy and several images in flight,
 *    one rep just before each end-to-end run;
 *  - ceiling = 1 / (1/raw + 1/decode): on a CPU both share the cores, so this is the best end-to-end rate;
 *  - end to end: `finetune embed` as a child process, fresh cache, process start included (wall clock). By default
 *    the shipped bin, dist/cli/finetune.js (what `npm i finetune` users run; built first when dist/ is missing or
 *    older than the sources); `--from-source` runs bin/finetune.js through tsx instead (the clone's dev path,
 *    ~0.45 s more process start);
 *  - of ceiling = median over the reps of each end-to-end run against its own ceiling (its decode rep, the raw reps
 *    just before and after it), as the VM's speed drifts within a run (target ≥ 0.9);
 *  - rerun: the same command again on the warm cache, as a share of the first run (target ≤ 5 %);
 *  - peak RSS of the end-to-end process.
 * Then decode throughput on 1, 2, … all cores (child processes pinned with taskset), and peak RSS at 1k vs 10k
 * images (flat is the target). Medians of `--reps` repetitions after a warm-up. Prints a warning when other
 * processes used the CPU meanwhile.
 *
 * Usage: npx tsx scripts/bench-embed.ts [--images 1024] [--large 48] [--reps 5] [--rss-images 10000]
 *          [--backbones resnet,mobilenet] [--device auto|cpu|cuda] [--from-source] [--json]
 *        (internal: --decode-only DIR --spec JSON prints decode images/s as JSON; run it under taskset)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultBatchSize } from '../src/embed/extract-embeddings.js';
import { preprocessImage } from '../src/image/preprocess-image.js';
import { IMAGENET_SPEC } from '../src/image/preprocess-spec.js';
import { cutBackbone } from '../src/onnx/cut-backbone.js';
import { readModel } from '../src/onnx/read-model.js';
import { buildResnetBackbone } from '../src/onnx/test-backbones.js';
import { encodeModel, writeModel } from '../src/onnx/write-model.js';
import { findModel } from '../src/registry/catalog.js';
import { createSession } from '../src/runtime/session.js';
import type { Device, PreprocessSpec } from '../src/types.js';
import { mapLimit } from '../src/util/map-limit.js';
import { watchCpuContention } from './lib/cpu-contention.js';
import { writePhotoJpegs } from './lib/photo-jpegs.js';
import { median } from './lib/stats.js';

const root = resolve(new URL('..', import.meta.url).pathname);
function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] ?? fallback : fallback;
}

// #region decode-only child mode (run under taskset for the scaling table)

async function listImages(dir: string): Promise<string[]> {
  const paths: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.jpg')) paths.push(join(entry.parentPath, entry.name));
  }
  return paths.sort();
}

/** Decode alone: read + preprocessImage for every image, `inFlight` at once; images/s. */
async function decodeThroughput(paths: readonly string[], spec: PreprocessSpec, inFlight: number): Promise<number> {
  const started = performance.now();
  const out = new Float32Array(inFlight * 3 * spec.cropSize * spec.cropSize);
  await mapLimit(paths, inFlight, async (path, index) => {
    await preprocessImage(await readFile(path), spec, { out, outOffset: (index % inFlight) * 3 * spec.cropSize * spec.cropSize });
  });
  return paths.length / ((performance.now() - started) / 1000);
}

if (process.argv.includes('--decode-only')) {
  const dir = flag('decode-only', '');
  const spec = JSON.parse(flag('spec', '{}')) as PreprocessSpec;
  const reps = Number(flag('reps', '3'));
  const paths = await listImages(dir);
  const inFlight = 2 * availableParallelism();
  await decodeThroughput(paths.slice(0, 16), spec, inFlight);   // warm-up
  const rates: number[] = [];
  for (let rep = 0; rep < reps; rep++) rates.push(await decodeThroughput(paths, spec, inFlight));
  process.stdout.write(`${JSON.stringify({ cores: availableParallelism(), imagesPerSecond: median(rates) })}\n`);
  process.exit(0);
}

// #endregion

const numImages = Number(flag('images', '1024'));
const numLarge = Number(flag('large', '48'));
const reps = Number(flag('reps', '5'));
const rssImages = Number(flag('rss-images', '10000'));
const device = flag('device', 'auto') as Device;
const wantedBackbones = flag('backbones', 'resnet,mobilenet').split(',');
const asJson = process.argv.includes('--json');
const fromSource = process.argv.includes('--from-source');
const log = (line: string): void => { process.stderr.write(`${line}\n`); };
const cores = availableParallelism();

interface Backbone {
  readonly name: string;
  readonly path: string;
  readonly spec: PreprocessSpec;
  readonly cutBytes: Uint8Array;
  readonly inputName: string;
}

const mobilenetPath = resolve(root, '..', 'shared', 'zoo', 'validated', 'vision', 'classification', 'mobilenet', 'model', 'mobilenetv2-12-int8.onnx');

async function loadBackbones(dir: string): Promise<Backbone[]> {
  const backbones: Backbone[] = [];
  if (wantedBackbones.includes('resnet')) {
    // Stride-1 3×3 stem and three basic blocks at 224×224, width 32: ≈ 2.3 GMAC per image (ResNet-18: 1.8).
    const model = buildResnetBackbone({ inputSize: 224, width: 32, numClasses: 1000 }).model;
    const path = join(dir, 'resnet-like-224.onnx');
    await writeModel(path, model);
    const cut = cutBackbone(model);
    backbones.push({ name: 'ResNet-like fp32 (224², width 32)', path, spec: IMAGENET_SPEC, cutBytes: encodeModel(cut.model), inputName: cut.inputName });
  }
  if (wantedBackbones.includes('mobilenet')) {
    if (existsSync(mobilenetPath)) {
      const cut = cutBackbone(await readModel(mobilenetPath));
      const spec = findModel('mobilenetv2')?.preprocess ?? IMAGENET_SPEC;
      backbones.push({ name: 'MobileNetV2-12-int8 (zoo)', path: mobilenetPath, spec, cutBytes: encodeModel(cut.model), inputName: cut.inputName });
    } else {
      log(`(MobileNetV2-int8 skipped: ${mobilenetPath} not found)`);
    }
  }
  return backbones;
}

/** Raw ORT on pre-made tensors, one session per backbone: `rep()` runs ≥ 128 images and returns images/s. */
interface RawOrt {
  readonly provider: string;
  rep(): Promise<number>;
  release(): Promise<void>;
}

async function openRawOrt(backbone: Backbone): Promise<RawOrt> {
  const batchSize = defaultBatchSize((await stat(backbone.path)).size);
  const crop = backbone.spec.cropSize;
  const dims = backbone.spec.layout === 'NCHW' ? [batchSize, 3, crop, crop] : [batchSize, crop, crop, 3];
  const tensor = new Float32Array(batchSize * 3 * crop * crop);
  for (let i = 0; i < tensor.length; i++) tensor[i] = Math.sin(i * 0.37) * 1.5;
  const session = await createSession(backbone.cutBytes, { device });
  await session.runFloat(backbone.inputName, tensor, dims);   // warm-up
  const batches = Math.ceil(128 / batchSize);
  return {
    provider: session.provider,
    async rep() {
      const started = performance.now();
      for (let b = 0; b < batches; b++) await session.runFloat(backbone.inputName, tensor, dims);
      return (batches * batchSize) / ((performance.now() - started) / 1000);
    },
    release: () => session.release(),
  };
}

/** The newest modification time (ms) of the files under `dir`. */
function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** The bin the end-to-end runs start: the shipped bundle (built when missing or older than the sources) or tsx. */
function chooseBin(): { readonly path: string; readonly label: string } {
  if (fromSource) return { path: join(root, 'bin', 'finetune.js'), label: 'bin/finetune.js (sources through tsx; --from-source)' };
  const shipped = join(root, 'dist', 'cli', 'finetune.js');
  const sourcesMtime = Math.max(newestMtimeMs(join(root, 'src')), statSync(join(root, 'package.json')).mtimeMs);
  if (!existsSync(shipped) || statSync(shipped).mtimeMs < sourcesMtime) {
    log('building dist/ (missing or older than src/): node scripts/build.js');
    const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.js')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    if (build.status !== 0) throw new Error('the build failed (see above); --from-source runs the sources instead');
  }
  return { path: shipped, label: 'dist/cli/finetune.js (the shipped bin, as after `npm i finetune`)' };
}

const bin = chooseBin();

interface CliRun { readonly seconds: number; readonly peakRssBytes: number; readonly stdout: string }

/** `finetune embed` as a child process under /usr/bin/time: wall seconds (process start included) and peak RSS. */
function runEmbed(backbone: Backbone, data: string, cacheDir: string): Promise<CliRun> {
  const args = [bin.path, 'embed', '--backbone', backbone.path, '--data', data, '--cache-dir', cacheDir,
    '--device', device, '--json', '--quiet'];
  const useTime = existsSync('/usr/bin/time');
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = useTime ? spawn('/usr/bin/time', ['-f', 'maxrss_kb=%M', process.execPath, ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' } })
      : spawn(process.execPath, args, { cwd: root, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) { reject(new Error(`finetune embed exited ${code}: ${stderr.slice(-2000)}`)); return; }
      const rss = /maxrss_kb=(\d+)/.exec(stderr);
      resolvePromise({ seconds, peakRssBytes: rss ? Number(rss[1]) * 1024 : NaN, stdout });
    });
  });
}

interface Row {
  readonly backbone: string;
  readonly images: string;
  readonly count: number;
  readonly raw: number;
  readonly rawMin: number;
  readonly rawMax: number;
  readonly rawReps: number;
  /** Median of the decode-alone reps (one just before each end-to-end run), with their range. */
  readonly decode: number;
  readonly decodeMin: number;
  readonly decodeMax: number;
  /** 1 / (1/raw + 1/decode) of the medians. */
  readonly ceiling: number;
  readonly endToEnd: number;
  /** Median over the reps of end-to-end ÷ that rep's own ceiling (its decode rep, the raw reps around it), with the range. */
  readonly ofCeiling: number;
  readonly ofCeilingMin: number;
  readonly ofCeilingMax: number;
  /** End-to-end median ÷ the ceiling of the medians (what the table showed before the pairing). */
  readonly ofMedianCeiling: number;
  readonly rerunShare: number;
  readonly peakRssBytes: number;
  readonly provider: string;
}

/** 12-megapixel photo-like JPEGs (4000×3000), each a few MB like a phone photo. */
function writeLargeJpegs(dir: string, count: number): Promise<string[]> {
  return writePhotoJpegs(count, (i) => join(dir, i % 2 === 0 ? 'a' : 'b', `large-${String(i).padStart(3, '0')}.jpg`),
    { width: 4000, height: 3000, seed: 777 });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'finetune-bench-embed-'));
  try {
    log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cores} logical cores, node ${process.version}; device ${device}`);
    log(`finetune embed runs ${bin.label}`);
    const photos = join(dir, 'photos');
    await writePhotoJpegs(numImages, (i) => join(photos, i % 2 === 0 ? 'a' : 'b', `photo-${String(i).padStart(5, '0')}.jpg`),
      { width: 640, height: 480, mixOrientation: true });
    const large = join(dir, 'large');
    await writeLargeJpegs(large, numLarge);
    // `--large 0` leaves the 12 MP set out (no folder is written for it).
    const largeBytes = numLarge === 0 ? 0
      : (await Promise.all((await listImages(large)).map(async (p) => (await stat(p)).size))).reduce((a, b) => a + b, 0);
    log(`data: ${numImages} photo-like 640×480 JPEGs; ${numLarge} 4000×3000 JPEGs` +
      (numLarge === 0 ? '' : ` (${(largeBytes / numLarge / 1e6).toFixed(1)} MB each)`));
    const backbones = await loadBackbones(dir);
    const rows: Row[] = [];
    const watch = watchCpuContention();
    for (const backbone of backbones) {
      // Raw ORT interleaved with the end-to-end runs (before the first, between each two, after the last); the
      // ceiling uses the median (on a shared machine the load drifts: one sample in a quiet or busy moment would
      // flatter or sink the ratio).
      const rawOrt = await openRawOrt(backbone);
      const rawRates: number[] = [await rawOrt.rep()];
      log(`${backbone.name}: raw ORT (${rawOrt.provider}) ${rawRates[0]!.toFixed(1)} img/s before`);
      const measured: Array<{ label: string; count: number; decodeRates: number[]; pairedRatios: number[]; firsts: CliRun[]; reruns: CliRun[] }> = [];
      const sets = ([['640×480', photos, numImages], ['12 MP', large, numLarge]] as const).filter(([, , count]) => count > 0);
      for (const [label, data, count] of sets) {
        const paths = await listImages(data);
        await decodeThroughput(paths.slice(0, 8), backbone.spec, 2 * cores);   // warm-up
        await runEmbed(backbone, data, join(dir, 'cache-warmup', label));   // warm-up: page cache (and tsx's cache)
        // Each rep is measured as a pair with its own ceiling: decode alone just before the first run, raw ORT just
        // before and just after the rep (their mean). This VM's speed drifts by up to 1.6× within a quiet run, so a
        // ceiling from other minutes than the end-to-end run it is compared with would flatter or sink the ratio.
        const firsts: CliRun[] = [], reruns: CliRun[] = [], decodeRates: number[] = [], pairedRatios: number[] = [];
        for (let rep = 0; rep < reps; rep++) {
          const cacheDir = join(dir, 'cache', `${rows.length + measured.length}-${rep}`);
          const decodeRate = await decodeThroughput(paths, backbone.spec, 2 * cores);
          const rawBefore = rawRates[rawRates.length - 1]!;
          const first = await runEmbed(backbone, data, cacheDir);
          reruns.push(await runEmbed(backbone, data, cacheDir));
          await rm(cacheDir, { recursive: true, force: true });
          const rawAfter = await rawOrt.rep();
          rawRates.push(rawAfter);
          firsts.push(first);
          decodeRates.push(decodeRate);
          pairedRatios.push((count / first.seconds) * (1 / ((rawBefore + rawAfter) / 2) + 1 / decodeRate));
        }
        measured.push({ label, count, decodeRates, pairedRatios, firsts, reruns });
      }
      await rawOrt.release();
      const raw = median(rawRates);
      const rawMin = Math.min(...rawRates), rawMax = Math.max(...rawRates);
      log(`${backbone.name}: raw ORT median ${raw.toFixed(1)} img/s of ${rawRates.length} reps (min–max ${rawMin.toFixed(1)}–${rawMax.toFixed(1)}: ` +
        `${rawRates.map((rate) => rate.toFixed(1)).join(' ')})`);
      for (const { label, count, decodeRates, pairedRatios, firsts, reruns } of measured) {
        const decode = median(decodeRates);
        const ceiling = 1 / (1 / raw + 1 / decode);
        const firstSeconds = median(firsts.map((run) => run.seconds));
        const endToEnd = count / firstSeconds;
        const row: Row = {
          backbone: backbone.name, images: label, count, raw, rawMin, rawMax, rawReps: rawRates.length, decode,
          decodeMin: Math.min(...decodeRates), decodeMax: Math.max(...decodeRates), ceiling, endToEnd,
          ofCeiling: median(pairedRatios), ofCeilingMin: Math.min(...pairedRatios), ofCeilingMax: Math.max(...pairedRatios),
          ofMedianCeiling: endToEnd / ceiling, rerunShare: median(reruns.map((run) => run.seconds)) / firstSeconds,
          peakRssBytes: Math.max(...firsts.map((run) => run.peakRssBytes)), provider: rawOrt.provider,
        };
        rows.push(row);
        log(`  ${label}: decode ${decode.toFixed(1)} img/s, ceiling ${ceiling.toFixed(1)}, finetune embed ${endToEnd.toFixed(1)} img/s ` +
          `(${row.ofCeiling.toFixed(2)} of its paired ceilings, ${row.ofCeilingMin.toFixed(2)}–${row.ofCeilingMax.toFixed(2)}; ` +
          `${row.ofMedianCeiling.toFixed(2)} of the medians' ceiling; decode ${decodeRates.map((rate) => rate.toFixed(1)).join(' ')}; runs ${firsts.map((run) => run.seconds.toFixed(2)).join(' ')} s), ` +
          `rerun ${(row.rerunShare * 100).toFixed(1)} % (${reruns.map((run) => run.seconds.toFixed(2)).join(' ')} s), ` +
          `peak RSS ${(row.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);
      }
    }

    // Decode scaling with the core count (child processes pinned with taskset).
    const scaling: Array<{ cores: number; imagesPerSecond: number }> = [];
    const spec = backbones[0]?.spec ?? IMAGENET_SPEC;
    const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
    const coreCounts = [...new Set([1, 2, 4, 8, 16, cores].filter((n) => n <= cores))];
    for (const n of coreCounts) {
      const pin = hasTaskset ? ['taskset', '-c', `0-${n - 1}`] : [];
      if (!hasTaskset && n !== cores) continue;
      const run = spawnSync(pin[0] ?? process.execPath, [...pin.slice(1), ...(pin.length > 0 ? [process.execPath] : []),
        '--import', 'tsx', new URL(import.meta.url).pathname, '--decode-only', photos, '--spec', JSON.stringify(spec), '--reps', String(Math.min(reps, 3))],
        { cwd: root, encoding: 'utf8' });
      if (run.status !== 0) { log(`decode on ${n} core(s) failed: ${run.stderr.slice(-500)}`); continue; }
      scaling.push({ cores: n, imagesPerSecond: (JSON.parse(run.stdout.trim()) as { imagesPerSecond: number }).imagesPerSecond });
    }

    // Peak RSS against the number of images: 1k vs `rssImages` (copies of the photos with a unique JPEG comment each).
    const rssBackbone = backbones.find((b) => b.name.startsWith('MobileNet')) ?? backbones[0];
    let rss: { small: number; large: number; smallCount: number; largeCount: number } | null = null;
    if (rssBackbone !== undefined && rssImages > numImages) {
      const many = join(dir, 'many');
      await writeUniqueCopies(await listImages(photos), many, rssImages);
      const small = await runEmbed(rssBackbone, photos, join(dir, 'cache-rss-small'));
      const big = await runEmbed(rssBackbone, many, join(dir, 'cache-rss-large'));
      rss = { small: small.peakRssBytes, large: big.peakRssBytes, smallCount: numImages, largeCount: rssImages };
    }
    const othersCores = watch.othersCores();
    const warning = watch.warning();

    const table = [
      '| backbone | images | raw ORT (min–max) | decode alone (min–max) | ceiling | `finetune embed` | of ceiling, paired (min–max) | rerun | peak RSS |',
      '|---|---|---|---|---|---|---|---|---|',
      ...rows.map((row) => `| ${row.backbone} | ${row.count} × ${row.images} | ${row.raw.toFixed(1)} img/s (${row.rawMin.toFixed(0)}–${row.rawMax.toFixed(0)}) | ${row.decode.toFixed(1)} img/s (${row.decodeMin.toFixed(0)}–${row.decodeMax.toFixed(0)}) | ` +
        `${row.ceiling.toFixed(1)} | ${row.endToEnd.toFixed(1)} img/s | **${row.ofCeiling.toFixed(2)}** (${row.ofCeilingMin.toFixed(2)}–${row.ofCeilingMax.toFixed(2)}) | ${(row.rerunShare * 100).toFixed(1)} % | ` +
        `${(row.peakRssBytes / 2 ** 20).toFixed(0)} MiB |`),
    ];
    const scalingTable = ['| cores | decode alone (640×480) |', '|---|---|',
      ...scaling.map((entry) => `| ${entry.cores} | ${entry.imagesPerSecond.toFixed(1)} img/s |`)];
    const lines = [
      `finetune embed vs the machine's ceiling (${cores} cores, ${device}, medians of ${reps}; process start included, fresh cache):`,
      `finetune embed = ${bin.label}; raw ORT = median of ${rows[0]?.rawReps ?? 0} reps interleaved with the end-to-end runs; decode alone = ` +
        'median of one rep just before each end-to-end run; "of ceiling" = median over the reps of each run against its own ceiling ' +
        '(its decode rep and the raw reps just before and after it); the ceiling column is that of the medians',
      ...table, '', 'Decode throughput by cores:', ...scalingTable,
      ...(rss === null ? [] : ['', `Peak RSS of finetune embed (${rssBackbone!.name}): ${rss.smallCount} images ${(rss.small / 2 ** 20).toFixed(0)} MiB, ` +
        `${rss.largeCount} images ${(rss.large / 2 ** 20).toFixed(0)} MiB`]),
    ];
    if (warning !== null) lines.push('', warning);
    if (asJson) process.stdout.write(`${JSON.stringify({ cores, device, reps, bin: bin.label, rows, scaling, rss, othersCores, warning })}\n`);
    else process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `count` distinct JPEGs made from `sources` by inserting a unique comment segment (COM) after the SOI marker. */
async function writeUniqueCopies(sources: readonly string[], dir: string, count: number): Promise<void> {
  const bytes = await Promise.all(sources.map((path) => readFile(path)));
  await mkdir(join(dir, 'a'), { recursive: true });
  await mkdir(join(dir, 'b'), { recursive: true });
  await mapLimit(Array.from({ length: count }, (_, i) => i), 16, async (i) => {
    const source = bytes[i % bytes.length]!;
    const text = Buffer.from(`copy ${i}`);
    const comment = Buffer.alloc(4 + text.length);
    comment.writeUInt16BE(0xfffe, 0);
    comment.writeUInt16BE(2 + text.length, 2);
    text.copy(comment, 4);
    await writeFile(join(dir, i % 2 === 0 ? 'a' : 'b', `copy-${String(i).padStart(6, '0')}.jpg`),
      Buffer.concat([source.subarray(0, 2), comment, source.subarray(2)]));
  });
}

await main();
