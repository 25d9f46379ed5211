/**
 * Export + parity at VGG16 scale (issue 19), on one machine in one run: wall time and peak RSS of
 *  - `before`: the previous method, measured the way it worked: encode the whole model into one buffer, write it,
 *    and run it in onnxruntime-node (from those bytes) on every validation image (its faster mode: no web parity);
 *  - `after`: writeExportedModel (streamed) + checkParity (parts, a bounded sample, web parts), as a run does, from
 *    the backbone read as prepareBackbone reads it: its weights left in the file (`readModel(…, { weights: 'disk' })`),
 *    streamed from there into model.onnx;
 *  - `after-run`: the same after prepareBackbone itself, whose extractor keeps the encoded cut (1× the model, for the
 *    embedding session) for the whole run: what a run's export stage peaks at today.
 * The model is a generated VGG16 (buildVgg16Backbone: 138,357,544 float parameters, 553 MB; no download), the
 * data 51 validation images (20 % of 256) of 3 classes with their cached features. Each repetition runs in a fresh
 * process that reads and cuts the backbone first (as a run has), so peak RSS counts what a run holds; the times
 * cover export + parity only. Medians of `--reps` (default 5) after one warm-up of each.
 * Targets: export + parity ≤ max(10 s, 20 % of the first run's embedding time for 256 images), estimated here from
 * the backbone's own speed on the same images; peak RSS ≤ 2 × the model's size.
 *
 * Usage: npx tsx scripts/bench-export.ts [--reps 5] [--json]
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchCpuContention } from './lib/cpu-contention.js';
import { writePhotoJpegs } from './lib/photo-jpegs.js';
import { checkParity } from '../src/export/check-parity.js';
import { classifyImages } from '../src/export/classify-images.js';
import { exportClassifier } from '../src/export/export-classifier.js';
import { readExportedModelInfo } from '../src/export/exported-model-format.js';
import { writeExportedModel } from '../src/export/write-exported-model.js';
import { IMAGENET_SPEC } from '../src/image/preprocess-spec.js';
import { preprocessImage } from '../src/image/preprocess-image.js';
import { prepareBackbone } from '../src/workflows/prepare-backbone.js';
import { cutBackbone } from '../src/onnx/cut-backbone.js';
import { readModel } from '../src/onnx/read-model.js';
import { streamModel } from '../src/onnx/stream-model.js';
import { buildVgg16Backbone } from '../src/onnx/test-backbones.js';
import { encodeModel } from '../src/onnx/write-model.js';
import { createSession } from '../src/runtime/session.js';
import { predictProbabilities } from '../src/train/predict-probabilities.js';
import type { HeadWeights } from '../src/types.js';
import { Rng } from '../src/util/rng.js';
import { median } from './lib/stats.js';

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] ?? fallback : fallback;
}
const reps = Number(flag('reps', '5'));
const asJson = process.argv.includes('--json');
const log = (line: string): void => { if (!asJson) process.stderr.write(`${line}\n`); };

const WORK = join(tmpdir(), 'finetune-bench-export-v1');
const BACKBONE = join(WORK, 'vgg16.onnx');
const FEATURES = join(WORK, 'features.f32');
const CLASSES = ['alpha', 'beta', 'gamma'];
const VALIDATION_IMAGES = 51;
const SPEC = IMAGENET_SPEC;

const imagePath = (index: number): string => join(WORK, 'images', CLASSES[index % 3]!, `image-${String(index).padStart(3, '0')}.jpg`);
const imagePaths = (): string[] => Array.from({ length: VALIDATION_IMAGES }, (_, index) => imagePath(index));
const labelsOf = (): Int32Array => Int32Array.from({ length: VALIDATION_IMAGES }, (_, index) => index % 3);

/** A seeded linear head with standardization, as the trainer hands to export. */
function benchHead(embeddingDim: number): HeadWeights {
  const rng = new Rng(7);
  const kernel = new Float32Array(embeddingDim * 3).map(() => (rng.nextFloat() - 0.5) * 0.05);
  const mean = new Float32Array(embeddingDim).map(() => rng.nextFloat());
  const std = new Float32Array(embeddingDim).map(() => 0.5 + rng.nextFloat());
  return { embeddingDim, numClasses: 3, standardization: { mean, std },
    layers: [{ inputDim: embeddingDim, outputDim: 3, kernel, bias: new Float32Array(3), activation: 'linear' }] };
}

// #region child: one repetition

interface Repetition {
  readonly seconds: number;
  readonly peakRssBytes: number;
  readonly rssBeforeBytes: number;
  readonly modelBytes: number;
  readonly detail: string;
}

type Mode = 'before' | 'after' | 'after-run' | 'embed';
const MODES = ['before', 'after', 'after-run'] as const;

async function child(mode: Mode): Promise<void> {
  // before: the backbone read into memory, as runs did; after: its weights left in the file, as prepareBackbone now
  // reads it; after-run: prepareBackbone itself, whose extractor also holds the encoded cut (1× the model) all run long.
  const prepared = mode === 'after-run' ? await prepareBackbone(BACKBONE) : null;
  const cut = prepared?.cut ?? cutBackbone(await readModel(BACKBONE, { weights: mode === 'after' ? 'disk' : 'memory' }));
  const images = imagePaths();
  if (mode === 'embed') {
    // The backbone's own speed, as the embedding stage runs it (the cut from bytes, one batch of 16 after a warm-up).
    const session = await createSession(encodeModel(cut.model), { device: 'cpu' });
    const per = 3 * 224 * 224;
    const input = new Float32Array(16 * per);
    for (let i = 0; i < 16; i++) await preprocessImage(images[i]!, SPEC, { out: input, outOffset: i * per });
    await session.runFloat(cut.inputName, input.subarray(0, per), [1, 3, 224, 224]);
    const started = performance.now();
    await session.runFloat(cut.inputName, input, [16, 3, 224, 224]);
    const seconds = (performance.now() - started) / 1000;
    await session.release();
    report({ seconds: seconds / 16, peakRssBytes: 0, rssBeforeBytes: 0, modelBytes: 0, detail: 'seconds per image' });
    return;
  }
  const features = new Float32Array((await readFile(FEATURES)).buffer.slice(0));
  const head = benchHead(cut.embeddingDim);
  const expected = predictProbabilities(head, features, images.length);
  const out = join(WORK, `out-${process.pid}`);
  const rssBeforeBytes = process.memoryUsage().rss;
  const started = performance.now();
  const exported = exportClassifier(cut.model, head, { classNames: CLASSES, preprocess: SPEC, backboneId: 'vgg16 (generated)' });
  let detail: string;
  let modelBytes: number;
  if (mode !== 'before') {
    let summary = '';
    const written = await writeExportedModel(join(out, 'model.onnx'), exported, {
      verify: async (files) => {
        const parity = await checkParity({ written: files, model: exported }, images, expected, {
          preprocess: SPEC, withPreprocessing: true, numClasses: 3, classNames: CLASSES, features, labels: labelsOf(),
        });
        summary = parity.summary;
      },
    });
    modelBytes = written.sizeBytes;
    detail = prepared ? `${summary}; the extractor held ${gb(prepared.extractor.modelBytes.length)} of encoded cut meanwhile` : summary;
  } else {
    // The previous export: one encoded buffer, written, then run from those bytes on every validation image.
    const bytes = encodeModel(exported);
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'model.onnx'), bytes);
    const info = await readExportedModelInfo(bytes);
    const session = await createSession(bytes, { device: 'cpu' });
    const result = await classifyImages(session, info, images, { batchSize: 16, failFast: true });
    await session.release();
    let max = 0;
    for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(result.probabilities[i]! - expected[i]!));
    modelBytes = bytes.length;
    detail = `onnxruntime-node on ${result.paths.length} images: max |Δp| ${max.toExponential(2)}`;
  }
  const seconds = (performance.now() - started) / 1000;
  await rm(out, { recursive: true, force: true });
  report({ seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024, rssBeforeBytes, modelBytes, detail });
}

function report(repetition: Repetition): void {
  process.stdout.write(`${JSON.stringify(repetition)}\n`);
}

async function repetition(mode: Mode): Promise<Repetition> {
  const script = new URL(import.meta.url).pathname;
  const proc = spawn(process.execPath, ['--import', 'tsx', script, '--child', mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  proc.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  const code = await new Promise<number>((resolve) => proc.on('close', (status) => resolve(status ?? 1)));
  if (code !== 0) throw new Error(`bench-export ${mode} repetition failed (exit ${code})`);
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Repetition;
}

// #endregion

// #region parent

/** The generated VGG16, 51 photo-like JPEGs and their cached features, made once and kept in the temp folder. */
async function prepare(): Promise<void> {
  await mkdir(WORK, { recursive: true });
  if (!existsSync(BACKBONE)) {
    log('generating VGG16 (138M parameters, seeded)…');
    await streamModel(buildVgg16Backbone({ seed: 1 }).model, `${BACKBONE}.tmp`);
    await rm(FEATURES, { force: true });
    await (await import('node:fs/promises')).rename(`${BACKBONE}.tmp`, BACKBONE);
  }
  if (!existsSync(imagePath(VALIDATION_IMAGES - 1))) await writePhotoJpegs(VALIDATION_IMAGES, imagePath);
  if (!existsSync(FEATURES)) {
    log('computing the cached features of the 51 images…');
    const cut = cutBackbone(await readModel(BACKBONE));
    const session = await createSession(encodeModel(cut.model), { device: 'cpu' });
    const per = 3 * 224 * 224;
    const features = new Float32Array(VALIDATION_IMAGES * cut.embeddingDim);
    for (let start = 0; start < VALIDATION_IMAGES; start += 8) {
      const count = Math.min(8, VALIDATION_IMAGES - start);
      const input = new Float32Array(count * per);
      for (let i = 0; i < count; i++) await preprocessImage(imagePath(start + i), SPEC, { out: input, outOffset: i * per });
      const out = await session.runFloat(cut.inputName, input, [count, 3, 224, 224]);
      features.set(Object.values(out)[0]!.data, start * cut.embeddingDim);
    }
    await session.release();
    await writeFile(FEATURES, new Uint8Array(features.buffer));
  }
}

const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(2)} GB`;

async function main(): Promise<void> {
  await prepare();
  const contention = watchCpuContention();
  const modelSizeBytes = (await stat(BACKBONE)).size;
  log(`backbone: generated VGG16, ${gb(modelSizeBytes)}; ${VALIDATION_IMAGES} validation images; ${reps} repetitions after a warm-up`);
  const embed = await repetition('embed');
  const results: Record<(typeof MODES)[number], Repetition[]> = { before: [], after: [], 'after-run': [] };
  for (const mode of MODES) await repetition(mode);   // warm-up (page cache, JIT)
  for (let rep = 0; rep < reps; rep++) {
    for (const mode of MODES) {
      const result = await repetition(mode);
      results[mode].push(result);
      log(`  ${mode} #${rep + 1}: ${result.seconds.toFixed(2)} s, peak RSS ${gb(result.peakRssBytes)}`);
    }
  }
  const embedSeconds256 = embed.seconds * 256;
  const targetSeconds = Math.max(10, 0.2 * embedSeconds256);
  const rows = MODES.map((mode) => {
    const runs = results[mode];
    const seconds = median(runs.map((run) => run.seconds));
    const peak = median(runs.map((run) => run.peakRssBytes));
    return { mode, seconds, min: Math.min(...runs.map((run) => run.seconds)), max: Math.max(...runs.map((run) => run.seconds)),
      peakRssBytes: peak, rssBeforeBytes: median(runs.map((run) => run.rssBeforeBytes)), peakOverModel: peak / modelSizeBytes,
      detail: runs.at(-1)!.detail };
  });
  const warning = contention.warning();
  if (asJson) {
    process.stdout.write(`${JSON.stringify({ modelSizeBytes, embedSecondsPerImage: embed.seconds, targetSeconds, rows, warning }, null, 2)}\n`);
    return;
  }
  const out = process.stdout;
  out.write(`\nExport + parity of a generated VGG16 (${gb(modelSizeBytes)}), ${VALIDATION_IMAGES} validation images, median of ${reps}:\n\n`);
  out.write('| method | export + parity | range | peak RSS | peak / model size | RSS before export |\n|---|---|---|---|---|---|\n');
  for (const row of rows) {
    out.write(`| ${row.mode} | ${row.seconds.toFixed(2)} s | ${row.min.toFixed(2)}–${row.max.toFixed(2)} s | ${gb(row.peakRssBytes)} | ` +
      `${row.peakOverModel.toFixed(2)}× | ${gb(row.rssBeforeBytes)} |\n`);
  }
  const [before, after] = rows;
  out.write(`\nafter vs before: ${(before!.seconds / after!.seconds).toFixed(1)}× faster, peak RSS ${gb(before!.peakRssBytes)} → ${gb(after!.peakRssBytes)}\n`);
  out.write(`target: ≤ ${targetSeconds.toFixed(1)} s (max of 10 s and 20 % of ${embedSeconds256.toFixed(0)} s, the backbone's ` +
    `${embed.seconds.toFixed(2)} s/image × 256 images) → ${after!.seconds <= targetSeconds ? 'met' : 'NOT met'}; ` +
    `peak RSS ≤ 2 × model size → ${after!.peakOverModel <= 2 ? 'met' : 'NOT met'} (${after!.peakOverModel.toFixed(2)}×)\n`);
  const run = rows[2]!;
  out.write(`after-run (prepareBackbone, its extractor holding the encoded cut): peak RSS ${gb(run.peakRssBytes)} = ` +
    `${run.peakOverModel.toFixed(2)}× the model size → ${run.peakOverModel <= 2 ? 'met' : 'NOT met'}\n`);
  out.write(`after's check: ${after!.detail}\n`);
  if (warning) out.write(`\n${warning}\n`);
}

// #endregion

if (process.argv.includes('--child')) await child(flag('child', 'after') as Mode);
else await main();
