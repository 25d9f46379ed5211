/**
 * Which tensor of a Hub model to train on, from its `config.json` `model_type` and the graph's outputs, as the
 * model family's own classification head reads it in transformers:
 * - ViT, DeiT, DINOv2, BEiT…: the CLS token of `last_hidden_state` (ViTForImageClassification: `[:, 0]`);
 * - CLIP and SigLIP vision towers: `image_embeds` (the projected embedding) when exported, else `pooler_output`;
 * - ConvNeXt, ResNet, Swin, RegNet… (no CLS token): `pooler_output` (their pooled, normalised features), else the
 *   mean of `last_hidden_state`.
 * Unknown model types get no choice here; the cut then finds a classifier input or a token-sequence output itself.
 */
import type { Pooling } from '../types.js';

/** A graph output as the choice needs it: its name and rank (null when unknown). */
export interface ModelOutput {
  readonly name: string;
  readonly rank: number | null;
}

export interface HubFeatureChoice {
  /** The tensor to cut at. */
  readonly layer: string;
  /** How it becomes [N, D] (`none` for an already pooled output). */
  readonly pooling: Pooling;
  /** One line for the log: what was picked and why, and how to pick otherwise. */
  readonly reason: string;
}

const CLS_TOKEN = new Set(['vit', 'deit', 'dinov2', 'dinov2_with_registers', 'beit', 'data2vec-vision', 'vit_msn', 'vit_mae', 'dinov3_vit']);
const PROJECTED = new Set(['clip', 'clip_vision_model', 'siglip', 'siglip_vision_model', 'siglip2', 'siglip2_vision_model',
  'chinese_clip', 'chinese_clip_vision_model']);
const POOLED = new Set(['convnext', 'convnextv2', 'resnet', 'regnet', 'swin', 'swinv2', 'efficientnet', 'mobilenet_v2', 'mobilevit',
  'mobilevitv2', 'levit', 'poolformer', 'van', 'bit', 'dinat', 'nat', 'focalnet', 'ijepa']);

/** The feature tensor and pooling for `config.model_type`, or null when the type is unknown or its outputs are missing. */
export function hubFeatureChoice(config: Readonly<Record<string, unknown>> | null, outputs: readonly ModelOutput[]): HubFeatureChoice | null {
  const modelType = typeof config?.['model_type'] === 'string' ? config['model_type'] : undefined;
  if (modelType === undefined) return null;
  const find = (name: string, rank?: number): ModelOutput | undefined =>
    outputs.find((output) => output.name === name && (rank === undefined || output.rank === rank));
  const tokens = find('last_hidden_state', 3);
  const other = (pooling: Pooling): string => (pooling === 'cls' ? '--pooling mean-tokens for the mean of the patch tokens'
    : '--layer last_hidden_state --pooling cls or mean-tokens for the token states');
  if (CLS_TOKEN.has(modelType) && tokens) {
    return { layer: tokens.name, pooling: 'cls', reason: `model_type "${modelType}": the CLS token of last_hidden_state (${other('cls')})` };
  }
  if (PROJECTED.has(modelType)) {
    for (const name of ['image_embeds', 'pooler_output']) {
      const pooled = find(name, 2);
      if (pooled) return { layer: pooled.name, pooling: 'none', reason: `model_type "${modelType}": ${name} (${other('none')})` };
    }
    if (tokens) return { layer: tokens.name, pooling: 'cls', reason: `model_type "${modelType}": the CLS token of last_hidden_state (${other('cls')})` };
  }
  if (POOLED.has(modelType)) {
    const pooled = find('pooler_output', 2);
    if (pooled) return { layer: pooled.name, pooling: 'none', reason: `model_type "${modelType}": pooler_output` };
    const map = outputs.find((output) => output.name === 'last_hidden_state' && (output.rank === 3 || output.rank === 4));
    if (map) return { layer: map.name, pooling: 'avg', reason: `model_type "${modelType}": the mean of last_hidden_state (--pooling max for the maximum)` };
  }
  return null;
}
