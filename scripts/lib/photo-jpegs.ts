/** Photo-like JPEGs for benchmarks: smooth gradients plus noise, quality 90, seeded. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/util/rng.js';

export interface PhotoJpegOptions {
  /** Every 4th image is portrait (height × width) instead of landscape. @defaultValue `false` */
  mixOrientation?: boolean;
  /** @defaultValue `320` */
  width?: number;
  /** @defaultValue `240` */
  height?: number;
  /** Seeds the phases and the noise. @defaultValue `12345` */
  seed?: number;
}

/** Writes `count` JPEGs; `pathOf(i)` names image i (its folder is created). Returns the paths. */
export async function writePhotoJpegs(count: number, pathOf: (index: number) => string, options: PhotoJpegOptions = {}): Promise<string[]> {
  let seed = options.seed ?? 12345;
  const random = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const landscape = [options.width ?? 320, options.height ?? 240] as const;
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const [width, height] = options.mixOrientation && i % 4 === 3 ? [landscape[1], landscape[0]] : landscape;
    const pixels = Buffer.alloc(width * height * 3);
    const phase = random() * 6.28;
    const red = Float64Array.from({ length: width }, (_, x) => 128 + 100 * Math.sin(x / 23 + phase));
    const green = Float64Array.from({ length: height }, (_, y) => 128 + 100 * Math.cos(y / 17 + phase));
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const offset = (y * width + x) * 3;
        pixels[offset] = red[x]! + random() * 20;
        pixels[offset + 1] = green[y]! + random() * 20;
        pixels[offset + 2] = (x + y + i * 7) & 0xff;
      }
    }
    const path = pathOf(i);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
    paths.push(path);
  }
  return paths;
}

/**
 * One photo-like JPEG of any size (quality 92): soft gradients, hard-edged discs at every scale (edges are where
 * resampling filters differ), fine texture and sensor noise. Seeded, so every run benchmarks the same bytes.
 */
export async function photoLikeJpeg(width: number, height: number, seed: number): Promise<Buffer> {
  const rng = new Rng(seed);
  const pixels = Buffer.alloc(width * height * 3);
  const discs = Array.from({ length: 60 }, () => ({
    x: rng.nextFloat() * width, y: rng.nextFloat() * height, radius: 20 + rng.nextFloat() ** 2 * width / 4,
    color: [rng.nextInt(256), rng.nextInt(256), rng.nextInt(256)] as const,
  }));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const offset = (y * width + x) * 3;
      let red = 90 + 60 * Math.sin(x / 700 + seed), green = 110 + 50 * Math.cos(y / 500), blue = 140 + 40 * Math.sin((x + y) / 900);
      for (const disc of discs) {
        const dx = x - disc.x, dy = y - disc.y;
        if (dx * dx + dy * dy < disc.radius * disc.radius) [red, green, blue] = disc.color;
      }
      const texture = 12 * Math.sin(x / 1.7) * Math.sin(y / 2.3);
      pixels[offset] = red + texture + rng.nextFloat() * 8;
      pixels[offset + 1] = green + texture + rng.nextFloat() * 8;
      pixels[offset + 2] = blue + texture + rng.nextFloat() * 8;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 92 }).toBuffer();
}
