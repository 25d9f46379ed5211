/**
 * The `metadata_props` keys finetune writes into exported models, and the graph input/output names it uses.
 * onnxruntime-node exposes metadata as custom metadata; onnxruntime-web cannot read it, which is why the class
 * names are also a constant string output (`labels`).
 */
export const METADATA_KEYS = {
  /** JSON array of class names in index order. */
  classNames: 'finetune.class_names',
  /** JSON PreprocessSpec (absent for head-only exports without one). */
  preprocess: 'finetune.preprocess',
  /** `uint8-image` | `float` | `features`: what the graph input holds. */
  inputType: 'finetune.input_type',
  backboneId: 'finetune.backbone_id',
  backboneSha256: 'finetune.backbone_sha256',
  /** JSON object: epochs, best epoch, validation accuracy, … as the caller provides it. */
  trainingSummary: 'finetune.training_summary',
  toolVersion: 'finetune.tool_version',
  /** Version of this layout of inputs, outputs and keys. */
  formatVersion: 'finetune.format_version',
} as const;

/** Bumped when the layout of exported models changes incompatibly. */
export const EXPORT_FORMAT_VERSION = '1';

/** Graph input and output names of exported models. */
export const EXPORT_NAMES = {
  /** Input with baked preprocessing: uint8 [N, H, W, 3] RGB at the crop size. */
  image: 'image',
  /** Input of head-only exports: float [N, D]. */
  features: 'features',
  /** float [N, C] softmax probabilities. */
  probabilities: 'probabilities',
  /** string [N]: the top-1 class name. */
  label: 'label',
  /** string [C]: every class name in index order (a constant). */
  labels: 'labels',
} as const;

/** What the exported graph's input holds. */
export type ExportedInputType = 'uint8-image' | 'float' | 'features';
