// Types of resample-kernels.js (plain JavaScript so that the serve page loads the same file). See resample.ts.

export interface KernelImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}
export interface KernelWindow { readonly left: number; readonly top: number; readonly width: number; readonly height: number }
export interface KernelBox { readonly left: number; readonly top: number; readonly right: number; readonly bottom: number }
/** Where the resized image is and which part of it the center crop keeps. */
export interface ResizeGeometry {
  readonly resizeWidth: number;
  readonly resizeHeight: number;
  readonly cropLeft: number;
  readonly cropTop: number;
  readonly cropSize: number;
}
export interface GeometrySpec {
  readonly resizeMode: 'shorter-side' | 'direct';
  readonly resizeSize: number;
  readonly cropSize: number;
  readonly geometry?: 'zoo' | 'torchvision' | 'transformers';
}
export type KernelFilter = 'pil-bilinear' | 'pil-bicubic' | 'torch-bilinear' | 'nearest';

/** Per output pixel of one axis: [first source index, taps] in `bounds`; int32 weights × 2^22 at `stride`. */
export interface ConvolutionAxis {
  readonly bounds: Int32Array;
  readonly weights: Int32Array;
  readonly stride: number;
}
export interface ConvolutionPlan {
  readonly horizontal: ConvolutionAxis | null;
  readonly vertical: ConvolutionAxis | null;
  readonly firstRow: number;
  readonly lastRow: number;
}

export function checkResampleArguments(name: string, image: KernelImage, outWidth: number, outHeight: number,
  window: KernelWindow): void;
export function convolutionAxis(inSize: number, in0: number, in1: number, outSize: number,
  filter: 'pil-bilinear' | 'pil-bicubic', start: number, count: number): ConvolutionAxis;
export function convolutionPlan(image: KernelImage, filter: 'pil-bilinear' | 'pil-bicubic', outWidth: number,
  outHeight: number, window: KernelWindow, box: KernelBox): ConvolutionPlan;
export function convolveJs(image: KernelImage, plan: ConvolutionPlan, window: KernelWindow): Uint8Array;
export function torchBilinear(image: KernelImage, outWidth: number, outHeight: number, window: KernelWindow): Float32Array;
export function nearest(image: KernelImage, outWidth: number, outHeight: number, window: KernelWindow): Uint8Array;
export function resampleBytes(image: KernelImage, filter: KernelFilter, outWidth: number, outHeight: number,
  window: KernelWindow, box: KernelBox): Uint8Array;
export function resizeGeometry(width: number, height: number, spec: GeometrySpec): ResizeGeometry;
