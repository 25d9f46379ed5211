/**
 * How far is a pre-shrunk `pil-bilinear` resize from the full-resolution one, and what does it cost? For large JPEGs
 * decodeToRgb lets libvips decode at the JPEG scale its own resize would use (and shrink a little more with its
 * linear kernel) before the exact Pillow filter runs (preshrinkPlan). This compares, on generated 12-megapixel
 * photo-like JPEGs, the 224×224 crop (shorter side 256) of:
 *   - the exact filter on the full-resolution decode (the reference: Pillow's result bit for bit on these pixels);
 *   - the default pre-shrink (S / (s + 1) for libvips' JPEG scale s);
 *   - pre-shrinking to 2, 3, 4 × the target, with all of JPEG shrink-on-load (`fastShrinkOnLoad: true`) or leaving
 *     libvips' linear kernel at least 2× ("slow load");
 *   - libvips' own linear kernel (`sharp-linear`, the filter before this one existed).
 * It prints the max and mean |difference| in grey levels and the median time per image (sequential, one image at a
 * time, 7 rounds after a warm-up, methods interleaved so that load from other processes hits them alike).
 *
 *   flock /work/.locks/cpu npx tsx scripts/experiments/preshrink-fidelity.ts
 */
import { cpus, loadavg } from 'node:os';
import { type PreshrinkLimits, openImage, orientedSize, resizeGeometry, resizeWindow } from '../../src/image/preprocess-image.js';
import { IMAGENET_SPEC } from '../../src/image/preprocess-spec.js';
import type { ResizeFilter } from '../../src/types.js';
import { photoLikeJpeg } from '../lib/photo-jpegs.js';

interface Method { name: string; filter: ResizeFilter; limits: PreshrinkLimits }
const methods: Method[] = [
  { name: 'pil-bilinear, full-resolution decode', filter: 'pil-bilinear', limits: { factor: Number.POSITIVE_INFINITY } },
  { name: 'pil-bilinear, default: libvips\' JPEG scale, S/(s+1)', filter: 'pil-bilinear', limits: {} },
  ...[2, 3, 4].flatMap((factor) => [true, false].map((fast) => ({
    name: `pil-bilinear, pre-shrink to ${factor}× target${fast ? '' : ', slow load'}`, filter: 'pil-bilinear' as const,
    limits: { factor, fastShrinkOnLoad: fast },
  }))),
  { name: 'sharp-linear (libvips)', filter: 'sharp-linear', limits: {} },
];

async function crop(bytes: Buffer, method: Method): Promise<Uint8Array> {
  const image = openImage(bytes);
  const { width, height, jpeg } = await orientedSize(image);
  const geometry = resizeGeometry(width, height, IMAGENET_SPEC);
  return resizeWindow(image, { width, height, jpeg }, { width: geometry.resizeWidth, height: geometry.resizeHeight },
    { left: geometry.cropLeft, top: geometry.cropTop, width: geometry.cropSize, height: geometry.cropSize }, method.filter,
    { ...method.limits, maxDecodedPixels: Number.POSITIVE_INFINITY, maxExactPixels: Number.POSITIVE_INFINITY });
}

const load = loadavg()[0]!;
if (load > 0.5 * cpus().length) console.log(`warning: load average ${load.toFixed(1)} on ${cpus().length} cores: other processes use the CPU, times are indicative only`);
for (const [width, height] of [[4000, 2667], [4032, 3024], [3000, 4000]] as const) {
  const bytes = await photoLikeJpeg(width, height, width + height);
  const reference = await crop(bytes, methods[0]!);
  const times = new Map<Method, number[]>(methods.map((method) => [method, []]));
  for (const method of methods) await crop(bytes, method);   // warm-up
  for (let round = 0; round < 7; round++) {
    for (const method of methods) {
      const start = performance.now();
      await crop(bytes, method);
      times.get(method)!.push(performance.now() - start);
    }
  }
  console.log(`\n${width}×${height} JPEG → shorter side 256, center crop 224 (max / mean |difference| from the full-resolution pil-bilinear):`);
  for (const method of methods) {
    const out = await crop(bytes, method);
    let max = 0, sum = 0;
    for (let i = 0; i < out.length; i++) { const difference = Math.abs(out[i]! - reference[i]!); max = Math.max(max, difference); sum += difference; }
    const sorted = times.get(method)!.sort((a, b) => a - b);
    console.log(`  ${method.name.padEnd(52)} max ${String(max).padStart(3)}  mean ${(sum / out.length).toFixed(3)}  median ${sorted[3]!.toFixed(1)} ms`);
  }
}
const after = loadavg()[0]!;
if (after > 0.5 * cpus().length) console.log(`warning: load average ${after.toFixed(1)} at the end`);
