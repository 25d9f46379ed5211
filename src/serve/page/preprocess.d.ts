// Types for preprocess.js, so the Node tests can import the page's module under strict TypeScript.
import type { PreprocessSpec } from '../../types.js';

export type { ResizeGeometry } from '../../image/resample-kernels.js';
import type { ResizeGeometry } from '../../image/resample-kernels.js';
export interface RankedClass {
  readonly index: number;
  readonly className: string;
  readonly probability: number;
}
export function resizeGeometry(width: number, height: number, spec: Pick<PreprocessSpec, 'resizeMode' | 'resizeSize' | 'cropSize' | 'geometry'>): ResizeGeometry;
export function rgbaToRgb(rgba: ArrayLike<number>): Uint8Array;
export function resizeToCrop(rgb: Uint8Array, width: number, height: number,
  spec: Pick<PreprocessSpec, 'resizeMode' | 'resizeSize' | 'cropSize' | 'resizeFilter' | 'geometry'>): Uint8Array | null;
export function normalizePixels(rgb: Uint8Array, spec: PreprocessSpec): Float32Array;
export function topK(probabilities: ArrayLike<number>, classNames: readonly string[], k: number): RankedClass[];
