/** Writes image folders for tests: synthetic shapes, and Fashion-MNIST classes as PNG files. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { FASHION_CLASS_NAMES, loadFashionMnist } from './shared.js';

/** Writes `perClass` PNGs of each Fashion-MNIST class in `classes` to `<dir>/<className>/`, taken in file order. */
export async function writeFashionMnistFolder(
  dir: string, classes: readonly number[], perClass: number,
  options: { split?: 'train' | 't10k'; offset?: number; format?: 'png' | 'jpeg' } = {},
): Promise<string[]> {
  const data = loadFashionMnist(options.split ?? 't10k');
  const format = options.format ?? 'png';
  const written: string[] = [];
  const pixelsPerImage = data.height * data.width;
  for (const classIndex of classes) {
    const className = FASHION_CLASS_NAMES[classIndex]!;
    await mkdir(join(dir, className), { recursive: true });
    let seen = 0, taken = 0;
    for (let i = 0; i < data.count && taken < perClass; i++) {
      if (data.labels[i] !== classIndex) continue;
      if (seen++ < (options.offset ?? 0)) continue;
      const gray = Buffer.from(data.pixels.subarray(i * pixelsPerImage, (i + 1) * pixelsPerImage));
      const path = join(dir, className, `${className}-${i}.${format === 'png' ? 'png' : 'jpg'}`);
      await sharp(gray, { raw: { width: data.width, height: data.height, channels: 1 } })
        .toFormat(format).toFile(path);
      written.push(path);
      taken++;
    }
  }
  return written;
}
