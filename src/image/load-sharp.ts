/** sharp (libvips), loaded when the first image is decoded, resized or thumbnailed: never by importing finetune. */
import type sharp from 'sharp';
import { lazyRequire } from '../util/lazy-require.js';

/** The `sharp` function; the first call loads the package and its native binding. */
export const loadSharp: () => typeof sharp = lazyRequire<typeof sharp>('sharp');
