/**
 * The model zoo registry: typed entries read from `models/zoo.json` (data, not code), looked up by id or alias.
 * Every fact in an entry (path, sha256, size, I/O, feature tensor) is checked against the zoo's
 * ONNX_HUB_MANIFEST.json by test/registry/catalog.test.ts.
 */
import { fileURLToPath } from 'node:url';
import { FinetuneError, nearestNames } from '../errors.js';
import { DEFAULT_RESIZE_FILTER, validatePreprocessSpec } from '../image/preprocess-spec.js';
import { isSha256Hex } from '../util/hash.js';
import { defineCatalog, entryFields } from './catalog-file.js';
import { listHubAliases } from './hub-catalog.js';
import { POOLINGS } from '../types.js';
import type { Pooling, PreprocessSpec } from '../types.js';

/** A tensor's name and dims as the graph declares them; symbolic dims are strings (`'N'`, `'batch_size'`). */
export interface ZooTensor {
  readonly name: string;
  readonly dims: readonly (number | string)[];
}

export interface ZooInput extends ZooTensor {
  readonly layout: 'NCHW' | 'NHWC';
}

/** Where to cut the backbone for embeddings, and how to turn that tensor into a vector. */
export interface ZooFeature {
  /** Name of the tensor that feeds the classifier (the cut point). */
  readonly tensor: string;
  /** Its dims as declared or inferred; symbolic batch as a string. */
  readonly dims: readonly (number | string)[];
  /** `uint8` for quantized tensors: the cut must append a DequantizeLinear. */
  readonly dtype: 'float32' | 'uint8';
  /** Pooling that turns the tensor into [N, embeddingDim]. */
  readonly pooling: Pooling;
  /** Width of the feature vector after pooling. */
  readonly embeddingDim: number;
  /** `manifest`: the zoo manifest's `extra_ports.features`. `notes`: our research (see `note`). */
  readonly source: 'manifest' | 'notes';
  readonly note?: string;
}

/** One pretrained backbone of the ONNX Model Zoo. Plain JSON data: safe to print with `--json`. */
export interface ZooEntry {
  /** The zoo's file name without `.onnx`, e.g. `vgg16-7`. */
  readonly id: string;
  /** Short names accepted wherever an id is (`vgg16`, `resnet50`, `mobilenetv2-int8`). */
  readonly aliases: readonly string[];
  /** The manifest's display name. */
  readonly name: string;
  readonly family: string;
  readonly description: string;
  /** Path inside the zoo repository; also the layout under a mirror and under the cache. */
  readonly path: string;
  /** Download URLs in the order they are tried (Hugging Face mirror first, GitHub LFS media second). */
  readonly urls: readonly string[];
  /** Hex sha256 of the file (equals the manifest's `model_sha` and the Git-LFS oid). */
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly opset: number;
  readonly license: string;
  readonly quantized: boolean;
  readonly input: ZooInput;
  readonly output: ZooTensor;
  /** True when the graph input declares batch 1 (VGG, SqueezeNet, EfficientNet-Lite4). */
  readonly fixedBatch: boolean;
  readonly batchNote: string;
  readonly preprocess: PreprocessSpec;
  readonly feature: ZooFeature;
}

/** Where the catalog data lives in the repository. */
export const catalogPath: string = fileURLToPath(new URL('../../models/zoo.json', import.meta.url));

const zoo = defineCatalog<ZooEntry>({ label: 'zoo catalog', path: catalogPath, validate: validateEntry, names: (entry) => [entry.id, ...entry.aliases] });

/** Every entry of the built-in catalog, in catalog order. */
export function listModels(): readonly ZooEntry[] {
  return zoo.list();
}

/** The entry with this id or alias (case-insensitive), or `undefined`. */
export function findModel(idOrAlias: string): ZooEntry | undefined {
  return zoo.find(idOrAlias);
}

/** The entry with this id or alias (case-insensitive); throws MODEL_NOT_FOUND naming the nearest ids. */
export function getModel(idOrAlias: string): ZooEntry {
  const entry = findModel(idOrAlias);
  if (entry) return entry;
  const names = [...listModels().flatMap((e) => [e.id, ...e.aliases]), ...listHubAliases().flatMap((e) => [e.alias, ...e.aliases])];
  const nearest = nearestNames(idOrAlias, names, 5);
  throw new FinetuneError(
    'MODEL_NOT_FOUND',
    `Unknown model "${idOrAlias}". Nearest ids: ${nearest.join(', ')}.`,
    'Run `finetune models list` to see every known backbone, pass a Hugging Face Hub model as hf:owner/repo, ' +
    'or your own file with --backbone ./file.onnx.',
  );
}

// #region validation

/**
 * Checks a parsed `zoo.json` (`{ models: [...] }` or a bare array) and returns typed entries.
 * Throws a TypeError naming the entry and field on the first malformed value, and on duplicate ids or aliases.
 */
export function parseCatalog(json: unknown): ZooEntry[] {
  return zoo.parse(json);
}

/**
 * Checks one entry object (from the catalog, or built by a caller for its own host) and returns it typed.
 * `where` names it in error messages.
 */
export function validateEntry(value: unknown, where = 'entry'): ZooEntry {
  const { value: e, fail, string: str, strings } = entryFields('zoo catalog', where, value);
  str('id');
  str('name');
  str('family');
  str('description');
  str('license');
  str('batchNote');
  const path = str('path');
  if (path.startsWith('/') || path.includes('\\') || path.split('/').some((part) => part === '..' || part === '.' || part === '')) {
    fail('path', 'a relative zoo path without "..", "." or empty segments');
  }
  if (!isSha256Hex(str('sha256'))) fail('sha256', '64 lowercase hex digits');
  if (!Number.isSafeInteger(e['sizeBytes']) || (e['sizeBytes'] as number) <= 0) fail('sizeBytes', 'a positive integer');
  if (!Number.isInteger(e['opset'])) fail('opset', 'an integer');
  if (typeof e['quantized'] !== 'boolean') fail('quantized', 'a boolean');
  if (typeof e['fixedBatch'] !== 'boolean') fail('fixedBatch', 'a boolean');
  strings('aliases');
  const urls = Array.isArray(e['urls']) && e['urls'].length > 0 ? strings('urls') : fail('urls', 'a non-empty array of URLs');
  for (const url of urls) if (!/^https?:\/\//.test(url)) fail('urls', `http(s) URLs (got "${url}")`);
  const isDims = (v: unknown): boolean =>
    Array.isArray(v) && v.every((d) => (typeof d === 'string' && d !== '') || (Number.isInteger(d) && (d as number) >= 0));
  const input = e['input'] as Record<string, unknown> | undefined;
  if (typeof input?.['name'] !== 'string' || !isDims(input['dims'])) fail('input', '{ name, dims, layout }');
  if (input?.['layout'] !== 'NCHW' && input?.['layout'] !== 'NHWC') fail('input.layout', '"NCHW" or "NHWC"');
  const output = e['output'] as Record<string, unknown> | undefined;
  if (typeof output?.['name'] !== 'string' || !isDims(output['dims'])) fail('output', '{ name, dims }');
  const preprocess = validatePreprocessSpec(e['preprocess'],
    { where: `zoo catalog ${where}.preprocess`, missingResizeFilter: DEFAULT_RESIZE_FILTER });
  const feature = e['feature'] as Record<string, unknown> | undefined;
  if (typeof feature?.['tensor'] !== 'string' || feature['tensor'] === '') fail('feature.tensor', 'a tensor name');
  if (!isDims(feature?.['dims'])) fail('feature.dims', 'an array of dims');
  if (feature?.['dtype'] !== 'float32' && feature?.['dtype'] !== 'uint8') fail('feature.dtype', '"float32" or "uint8"');
  if (!(POOLINGS as readonly string[]).includes(feature?.['pooling'] as string)) fail('feature.pooling', POOLINGS.join(' | '));
  if (!Number.isInteger(feature?.['embeddingDim']) || (feature?.['embeddingDim'] as number) <= 0) {
    fail('feature.embeddingDim', 'a positive integer');
  }
  if (feature?.['source'] !== 'manifest' && feature?.['source'] !== 'notes') fail('feature.source', '"manifest" or "notes"');
  return { ...(value as ZooEntry), preprocess };
}

// #endregion
