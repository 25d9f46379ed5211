/** Types shared by more than one pipeline stage. Stage-local types live in their stage's folder. */

/** Where the backbone runs. `auto` uses CUDA when its libraries are installed, else the CPU. */
export type Device = 'auto' | 'cpu' | 'cuda';

/**
 * How the resize step computes pixel values (see src/image/resample.ts for the exact conventions):
 * `pil-bilinear` (Pillow BILINEAR, antialiased; torchvision `Resize` on PIL images), `pil-bicubic` (Pillow BICUBIC),
 * `torch-bilinear` (`F.interpolate(mode='bilinear', align_corners=False)`, no antialias), `nearest` (Pillow NEAREST),
 * `sharp-linear` (libvips' linear kernel; what finetune used before the filter was recorded).
 */
export type ResizeFilter = 'pil-bilinear' | 'pil-bicubic' | 'torch-bilinear' | 'nearest' | 'sharp-linear';

/**
 * How the size of a shorter-side resize and the center crop's corner are rounded to whole pixels (see
 * `resizeGeometry` in src/image/resample-kernels.js): `zoo` (the ONNX Model Zoo's `imagenet_preprocess.py`: longer
 * side rounded to nearest, crop corner floored), `torchvision` (`Resize(int)` floors the longer side, `CenterCrop`
 * rounds its corner half to even), `transformers` (Hugging Face image processors: both floored).
 */
export type GeometryConvention = 'zoo' | 'torchvision' | 'transformers';

/**
 * How an image becomes the backbone's input tensor. Pure data: it is stored in the zoo catalog,
 * the embedding-cache key, the run manifest and the exported model's metadata.
 *
 * Steps, in order: decode to RGB (EXIF orientation applied, alpha dropped) → resize → center crop
 * to `cropSize` × `cropSize` → value = (pixel * scale − mean[c]) / std[c] → channel order → layout.
 */
export interface PreprocessSpec {
  /** `shorter-side`: keep the aspect ratio, shorter side becomes `resizeSize`. `direct`: stretch to `resizeSize` × `resizeSize`. */
  readonly resizeMode: 'shorter-side' | 'direct';
  /** Size after resizing, before the center crop (256 for the ImageNet recipe). */
  readonly resizeSize: number;
  /** The resampling convention of the resize step (`pil-bilinear` for the zoo's models). */
  readonly resizeFilter: ResizeFilter;
  /**
   * How the resized size and the crop corner are rounded. Absent means `zoo` (every spec stored before the field
   * existed was computed that way, and validation drops an explicit `zoo`, so equal specs keep equal cache keys).
   */
  readonly geometry?: GeometryConvention;
  /** Side of the square center crop: the model's input height and width (224). */
  readonly cropSize: number;
  /** Multiplier applied to 0..255 pixel values before mean/std (1/255 maps to [0, 1]). */
  readonly scale: number;
  /** Per-channel mean, in RGB order, after scaling. */
  readonly mean: readonly [number, number, number];
  /** Per-channel standard deviation, in RGB order, after scaling. */
  readonly std: readonly [number, number, number];
  /** Channel order the model expects. */
  readonly channelOrder: 'RGB' | 'BGR';
  /** Tensor layout the model expects. */
  readonly layout: 'NCHW' | 'NHWC';
}

/** An image that could not be used (unreadable, undecodable, or no features), and why. */
export interface FailedImage {
  /** Position of the image in the list the caller passed. */
  readonly index: number;
  readonly path: string;
  /** One line, e.g. `file not found` or sharp's reason. */
  readonly reason: string;
}

/**
 * How the cut tensor becomes one vector per image. Spatial maps [N, C, H, W]: `avg`/`max` over H×W or `flatten`.
 * Token sequences [N, T, D] of transformers: `cls` (token 0, the ViT/DINOv2 convention), `mean-tokens` (the mean
 * of tokens 1…T−1, the patch tokens), or `avg`/`max` over all T tokens. `none`: the tensor is already [N, D].
 */
export type Pooling = 'none' | 'avg' | 'max' | 'flatten' | 'cls' | 'mean-tokens';

/** Every Pooling, for validation and `--pooling`. */
export const POOLINGS = ['none', 'avg', 'max', 'flatten', 'cls', 'mean-tokens'] as const satisfies readonly Pooling[];

/** Class names in index order: `classNames[k]` is the name of class k. Sorted when inferred from folders. */
export type ClassNames = readonly string[];

/** One dense layer of a trained head. `kernel` is [inputDim × outputDim] row-major (Gemm's B, transB = 0). */
export interface DenseLayer {
  readonly inputDim: number;
  readonly outputDim: number;
  readonly kernel: Float32Array;
  readonly bias: Float32Array;
  /** Activation after this layer. The last layer is `linear`; softmax is added at export. */
  readonly activation: 'relu' | 'linear';
}

/**
 * A trained classification head, as handed from training to export.
 * `standardization`, when present, is applied to the features before the first layer:
 * x' = (x − mean) / std. Export folds it into the first layer's weights.
 */
export interface HeadWeights {
  readonly embeddingDim: number;
  readonly numClasses: number;
  readonly layers: readonly DenseLayer[];
  readonly standardization: { readonly mean: Float32Array; readonly std: Float32Array } | null;
}

/** Progress reported by long-running library calls. The CLI renders it; the library never prints. */
export type ProgressEvent =
  | { readonly stage: 'download'; readonly status: 'start' | 'progress' | 'done' | 'retry'; readonly name: string;
      readonly url: string; readonly loadedBytes: number; readonly totalBytes: number | null; readonly message?: string }
  | { readonly stage: 'embed'; readonly status: 'start' | 'progress' | 'done'; readonly done: number;
      readonly total: number; readonly cacheHits: number; readonly computed: number; readonly failed: number;
      readonly imagesPerSecond: number; readonly etaSeconds: number | null; readonly provider?: string }
  | { readonly stage: 'train'; readonly status: 'epoch' | 'done'; readonly epoch: number; readonly epochs: number;
      readonly logs: Readonly<Record<string, number>>; readonly message?: string }
  /** Within a long epoch (one that has run ≥ 1 s), at most once a second: steps done, the epoch's ETA, the running loss. */
  | { readonly stage: 'train'; readonly status: 'batch'; readonly epoch: number; readonly epochs: number;
      readonly step: number; readonly steps: number; readonly etaSeconds: number; readonly loss: number }
  | { readonly stage: 'export' | 'parity' | 'info' | 'warn'; readonly status: 'message'; readonly message: string };

export type ProgressCallback = (event: ProgressEvent) => void;

/**
 * Everything that determines a feature vector besides the image bytes. Part of the embedding-cache key:
 * change any field and cached vectors miss instead of going stale.
 */
export interface FeatureExtractorSpec {
  /** sha256 of the original backbone .onnx file (before cutting). */
  readonly backboneSha256: string;
  /** Name of the tensor the backbone was cut at (before pooling). */
  readonly layer: string;
  readonly pooling: Pooling;
  readonly preprocess: PreprocessSpec;
}
