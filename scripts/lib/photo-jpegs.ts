/** Photo-like JPEGs for benchmarks: smooth gradients plus noise, quality 90, seeded. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';

export interface PhotoJpegOptions {
  /** Every 4th image is portrait (240×320) instead of 320×240. @defaultValue `false` */
  mixOrientation?: boolean;
}

/** Writes `count` JPEGs; `pathOf(i)` names image i (its folder is created). Returns the paths. */
export async function writePhotoJpegs(count: number, pathOf: (index: number) => string, options: PhotoJpegOptions = {}): Promise<string[]> {
  let seed = 12345;
  const random = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const [width, height] = options.mixOrientation && i % 4 === 3 ? [240, 320] : [320, 240];
    const pixels = Buffer.alloc(width * height * 3);
    const phase = random() * 6.28;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const offset = (y * width + x) * 3;
        pixels[offset] = 128 + 100 * Math.sin(x / 23 + phase) + random() * 20;
        pixels[offset + 1] = 128 + 100 * Math.cos(y / 17 + phase) + random() * 20;
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
