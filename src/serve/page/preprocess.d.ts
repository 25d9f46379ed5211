// Types for preprocess.js, so the Node tests can import the page's module under strict TypeScript.
import type { PreprocessSpec } from '../../types.js';

export interface ResizeGeometry {
  readonly resizeWidth: number;
  readonly resizeHeight: number;
  readonly cropLeft: number;
  readonly cropTop: number;
  readonly cropSize: number;
}
export interface RankedClass {
  readonly index: number;
  readonly className: string;
  readonly probability: number;
}
export function resizeGeometry(width: number, height: number, spec: Pick<PreprocessSpec, 'resizeMode' | 'resizeSize' | 'cropSize'>): ResizeGeometry;
export function rgbaToRgb(rgba: ArrayLike<number>): Uint8Array;
export function resizeToCrop(rgb: Uint8Array, width: number, height: number,
  spec: Pick<PreprocessSpec, 'resizeMode' | 'resizeSize' | 'cropSize' | 'resizeFilter'>): Uint8Array | null;
export function normalizePixels(rgb: Uint8Array, spec: PreprocessSpec): Float32Array;
export function topK(probabilities: ArrayLike<number>, classNames: readonly string[], k: number): RankedClass[];
