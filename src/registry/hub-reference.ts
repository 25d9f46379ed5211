/**
 * `hf:owner/repo[@revision][:path/in/repo.onnx]`: a backbone on the Hugging Face Hub, parsed and validated, and the
 * resolve URL of a file in it (`{endpoint}/{owner}/{repo}/resolve/{revision}/{path}`, the URL huggingface_hub and
 * transformers.js download from).
 */
import { FinetuneError } from '../errors.js';

/** What `--backbone hf:…` starts with. */
export const HUB_PREFIX = 'hf:';

/** The Hub's public endpoint; `HF_ENDPOINT` replaces it (a mirror), as in huggingface_hub and transformers.js. */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/**
 * The ONNX files transformers.js-style repositories ship under `onnx/`, by variant (`--onnx-variant`).
 * `quantized` is the 8-bit dynamic quantization transformers.js loads as `q8`.
 */
export const ONNX_VARIANTS = {
  fp32: 'model.onnx',
  fp16: 'model_fp16.onnx',
  quantized: 'model_quantized.onnx',
  int8: 'model_int8.onnx',
  uint8: 'model_uint8.onnx',
  q4: 'model_q4.onnx',
} as const;
export type OnnxVariant = keyof typeof ONNX_VARIANTS;

export interface HubReference {
  /** `owner/repo`. */
  readonly repoId: string;
  /** Branch, tag or commit. @defaultValue `'main'` */
  readonly revision: string;
  /** File inside the repository, or null for the default `onnx/model.onnx` (or the chosen variant). */
  readonly path: string | null;
}

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;
const REVISION = /^[A-Za-z0-9._][A-Za-z0-9._/-]{0,254}$/;

/** True when `value` names a Hub backbone (`hf:…`). */
export function isHubReference(value: string): boolean {
  return value.trim().toLowerCase().startsWith(HUB_PREFIX);
}

/** `hf:owner/repo[@revision][:path/in/repo.onnx]` → its parts; throws INVALID_OPTION naming the bad part. */
export function parseHubReference(value: string): HubReference {
  const text = value.trim();
  const fail = (problem: string): never => {
    throw new FinetuneError('INVALID_OPTION', `Backbone "${value}" is not a Hub reference: ${problem}.`,
      'Write it as hf:owner/repo, hf:owner/repo@revision or hf:owner/repo@revision:path/in/repo.onnx ' +
      '(e.g. hf:Xenova/dinov2-small or hf:Xenova/dinov2-small@main:onnx/model_quantized.onnx).');
  };
  if (!isHubReference(text)) fail(`it does not start with "${HUB_PREFIX}"`);
  const rest = text.slice(HUB_PREFIX.length);
  const colon = rest.indexOf(':');
  const repoAndRevision = colon === -1 ? rest : rest.slice(0, colon);
  const path = colon === -1 ? null : rest.slice(colon + 1);
  const at = repoAndRevision.indexOf('@');
  const repoId = at === -1 ? repoAndRevision : repoAndRevision.slice(0, at);
  const revision = at === -1 ? 'main' : repoAndRevision.slice(at + 1);
  const parts = repoId.split('/');
  if (parts.length !== 2 || !parts.every((part) => NAME.test(part) && !part.includes('--') && !part.includes('..'))) {
    fail(`"${repoId}" is not owner/repo (letters, digits, ".", "_", "-")`);
  }
  if (!REVISION.test(revision) || revision.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    fail(`revision "${revision}" is not a branch, tag or commit`);
  }
  if (path !== null) {
    if (path === '' || path.startsWith('/') || path.includes('\\') || path.includes('\0')
      || path.split('/').some((part) => part === '' || part === '.' || part === '..')) {
      fail(`"${path}" is not a relative path inside the repository`);
    }
    if (!path.toLowerCase().endsWith('.onnx')) fail(`"${path}" is not an .onnx file`);
  }
  return { repoId, revision, path };
}

/** The ONNX file to fetch: the explicit path, else `onnx/<variant file>`. */
export function onnxPathFor(reference: HubReference, variant: OnnxVariant = 'fp32'): string {
  return reference.path ?? `onnx/${ONNX_VARIANTS[variant]}`;
}

/** `hf:owner/repo@revision:path`, the canonical form recorded in run.json and the model metadata. */
export function formatHubReference(repoId: string, revision: string, path: string): string {
  return `${HUB_PREFIX}${repoId}@${revision}:${path}`;
}

/** The Hub's resolve URL of `path` at `revision` (the revision URL-encoded as a single segment, as huggingface_hub does). */
export function resolveUrl(endpoint: string, repoId: string, revision: string, path: string): string {
  const base = endpoint.trim().replace(/\/+$/, '');
  const encodedPath = path.split('/').map(encodeURIComponent).join('/');
  return `${base}/${repoId}/resolve/${encodeURIComponent(revision)}/${encodedPath}`;
}
