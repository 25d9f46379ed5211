/**
 * Decode throughput per resize filter: JPEG bytes in memory → preprocessImage (libvips decode, resize per
 * `resizeFilter`, center crop, normalise into a float tensor), several images in flight, as the extraction does.
 * The baseline, measured in the same run, is `sharp-linear` (libvips' own kernel, the only filter before
 * `--resize-filter`); the default `pil-bilinear` runs resample.ts on the main thread, so the table also gives the
 * main thread's utilisation (time it is busy, which inference on the same thread cannot use).
 *
 * Photo-like JPEGs: 640×480 (the size of issue 17's table) and 12-megapixel 4000×3000 (JPEG shrink-on-load matters).
 * Medians of 5 rounds after a warm-up round; filters are interleaved within each round so that load from other
 * processes hits them alike. Warns when the load average says other processes use the CPU.
 *
 * Usage: npx tsx scripts/bench-decode.ts [--images 64] [--large 6] [--in-flight <2 × cores>] [--json]
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { photoLikeJpeg } from './lib/photo-jpegs.js';
import { preprocessImage } from '../src/image/preprocess-image.js';
import { IMAGENET_SPEC, RESIZE_FILTERS } from '../src/image/preprocess-spec.js';
import type { PreprocessSpec, ResizeFilter } from '../src/types.js';
import { watchCpuContention } from './lib/cpu-contention.js';
import { median } from './lib/stats.js';

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1] ?? fallback) : fallback;
}
const numImages = flag('images', 64);
const numLarge = flag('large', 6);
const inFlight = flag('in-flight', 2 * availableParallelism());
const asJson = process.argv.includes('--json');
const log = (line: string): void => { if (!asJson) process.stderr.write(`${line}\n`); };
const ROUNDS = 5;
const BASELINE: ResizeFilter = 'sharp-linear';

/** Images/s and main-thread utilisation of preprocessing every image once, `inFlight` at a time. */
async function measure(images: readonly Buffer[], spec: PreprocessSpec): Promise<{ imagesPerSecond: number; mainThreadBusy: number }> {
  const out = new Float32Array(inFlight * 3 * spec.cropSize * spec.cropSize);
  let next = 0;
  const eluStart = performance.eventLoopUtilization();
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(inFlight, images.length) }, async (_, slot) => {
    for (let index = next++; index < images.length; index = next++)
      await preprocessImage(images[index]!, spec, { out, outOffset: slot * 3 * spec.cropSize * spec.cropSize });
  }));
  const seconds = (performance.now() - start) / 1000;
  return { imagesPerSecond: images.length / seconds, mainThreadBusy: performance.eventLoopUtilization(eluStart).utilization };
}


const warnings: string[] = [];
const contention = watchCpuContention();
log(`generating ${numImages} photo-like 640×480 JPEGs and ${numLarge} 4000×3000 ones…`);
const sets = [
  { name: '640×480', images: await Promise.all(Array.from({ length: numImages }, (_, i) => photoLikeJpeg(640, 480, i + 1))) },
  { name: '4000×3000', images: await Promise.all(Array.from({ length: numLarge }, (_, i) => photoLikeJpeg(4000, 3000, 1000 + i))) },
];

const rows: Array<{ images: string; filter: ResizeFilter; imagesPerSecond: number; ratio: number; mainThreadBusy: number }> = [];
for (const set of sets) {
  const samples = new Map<ResizeFilter, Array<{ imagesPerSecond: number; mainThreadBusy: number }>>(RESIZE_FILTERS.map((filter) => [filter, []]));
  for (let round = -1; round < ROUNDS; round++) {   // round −1 warms up sharp, libvips' caches and the JIT
    for (const filter of RESIZE_FILTERS) {
      const result = await measure(set.images, { ...IMAGENET_SPEC, resizeFilter: filter });
      if (round >= 0) samples.get(filter)!.push(result);
    }
  }
  const baseline = median(samples.get(BASELINE)!.map((sample) => sample.imagesPerSecond));
  for (const filter of RESIZE_FILTERS) {
    const imagesPerSecond = median(samples.get(filter)!.map((sample) => sample.imagesPerSecond));
    rows.push({ images: set.name, filter, imagesPerSecond, ratio: imagesPerSecond / baseline,
      mainThreadBusy: median(samples.get(filter)!.map((sample) => sample.mainThreadBusy)) });
  }
}
const contended = contention.warning();
if (contended) warnings.push(contended);

if (asJson) {
  process.stdout.write(`${JSON.stringify({ cores: availableParallelism(), inFlight, rounds: ROUNDS, rows, warnings })}\n`);
} else {
  process.stdout.write(`\nDecode + resize + crop + normalise (preprocessImage), ${inFlight} images in flight, ${availableParallelism()} cores, ` +
    `median of ${ROUNDS} rounds; baseline ${BASELINE} (libvips, before --resize-filter)\n\n`);
  process.stdout.write('| images | filter | images/s | vs baseline | main thread busy |\n|---|---|---|---|---|\n');
  for (const row of rows) {
    process.stdout.write(`| ${row.images} | ${row.filter} | ${row.imagesPerSecond.toFixed(1)} | ${row.ratio.toFixed(2)}× | ` +
      `${(100 * row.mainThreadBusy).toFixed(0)} % |\n`);
  }
  for (const warning of warnings) process.stdout.write(`\n${warning}\n`);
}
