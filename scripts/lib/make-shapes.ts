/**
 * A small synthetic image dataset the project makes itself: three classes of shapes (circle, square,
 * triangle) drawn with random size, position, rotation and colours on a noisy background, as JPEG files
 * in the folder-per-class layout. Seeded, so the same seed gives the same files.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { uniformStream } from '../../src/util/rng.js';

export const SHAPE_CLASSES = ['circle', 'square', 'triangle'] as const;
export type ShapeClass = (typeof SHAPE_CLASSES)[number];

export interface MakeShapesOptions {
  /** Images per class. @defaultValue `30` */
  perClass?: number;
  /** Side of each image in pixels. @defaultValue `96` */
  size?: number;
  /** @defaultValue `7` */
  seed?: number;
  /** Which classes to draw. @defaultValue all three */
  classes?: readonly ShapeClass[];
}


function shapeSvg(shape: ShapeClass, size: number, random: () => number): string {
  const hue = Math.floor(random() * 360);
  const bgHue = (hue + 120 + Math.floor(random() * 120)) % 360;
  const radius = size * (0.22 + random() * 0.14);
  const cx = size / 2 + (random() - 0.5) * size * 0.25;
  const cy = size / 2 + (random() - 0.5) * size * 0.25;
  const angle = Math.floor(random() * 360);
  const fill = `hsl(${hue},${60 + Math.floor(random() * 30)}%,${40 + Math.floor(random() * 20)}%)`;
  let body: string;
  if (shape === 'circle') body = `<circle cx="${cx}" cy="${cy}" r="${radius}" fill="${fill}"/>`;
  else if (shape === 'square') {
    body = `<rect x="${cx - radius}" y="${cy - radius}" width="${2 * radius}" height="${2 * radius}" fill="${fill}"` +
      ` transform="rotate(${angle} ${cx} ${cy})"/>`;
  } else {
    const points = [0, 120, 240].map((offset) => {
      const a = ((angle + offset) * Math.PI) / 180;
      return `${cx + radius * 1.2 * Math.cos(a)},${cy + radius * 1.2 * Math.sin(a)}`;
    });
    body = `<polygon points="${points.join(' ')}" fill="${fill}"/>`;
  }
  const speckles: string[] = [];
  for (let i = 0; i < 12; i++) {
    speckles.push(`<circle cx="${random() * size}" cy="${random() * size}" r="${1 + random() * 2}"` +
      ` fill="hsl(${Math.floor(random() * 360)},30%,70%)" opacity="0.6"/>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">` +
    `<rect width="${size}" height="${size}" fill="hsl(${bgHue},25%,85%)"/>${speckles.join('')}${body}</svg>`;
}

/** Writes `<dir>/<class>/<class>-NNN.jpg`; returns the paths written. */
export async function makeShapesDataset(dir: string, options: MakeShapesOptions = {}): Promise<string[]> {
  const perClass = options.perClass ?? 30;
  const size = options.size ?? 96;
  const random = uniformStream(options.seed ?? 7);
  const written: string[] = [];
  for (const shape of options.classes ?? SHAPE_CLASSES) {
    await mkdir(join(dir, shape), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const path = join(dir, shape, `${shape}-${String(i).padStart(3, '0')}.jpg`);
      await sharp(Buffer.from(shapeSvg(shape, size, random))).jpeg({ quality: 90 }).toFile(path);
      written.push(path);
    }
  }
  return written;
}
