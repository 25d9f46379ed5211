/**
 * `--backbone <zoo id | alias | hf:owner/repo… | path.onnx>` → a local, hashed ONNX file plus what its source knows
 * about it: the catalog entry for zoo models, the pinned revision and config files for Hugging Face Hub models.
 */
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { ChecksumMismatchError, FinetuneError } from '../errors.js';
import { sha256FileCached } from '../util/file-hash-cache.js';
import { findModel, listModels } from './catalog.js';
import type { ZooEntry } from './catalog.js';
import type { DownloadOptions } from './download.js';
import { findHubAlias, hubAliasReference } from './hub-catalog.js';
import type { HubAlias } from './hub-catalog.js';
import type { HubModel } from './hub.js';
import { isHubReference } from './hub-reference.js';
import type { OnnxVariant } from './hub-reference.js';

export interface ResolvedBackbone {
  /** The catalog id; for a local file that is not a known zoo file, its file name. */
  readonly id: string;
  /** Absolute path of the .onnx file. */
  readonly path: string;
  readonly sha256: string;
  /**
   * The catalog entry (preprocessing, feature tensor...). For a local file this is the entry whose sha256 equals
   * the file's, so a zoo file passed by path gets its registry facts; null for any other file.
   */
  readonly entry: ZooEntry | null;
  /** For `hf:` backbones: the repository, the commit it resolved to, the file's path, and the config files. */
  readonly hub: HubModel | null;
}

export interface ResolveBackboneOptions extends DownloadOptions {
  /** Which `onnx/model*.onnx` of a Hub repository to use when the reference names no file. @defaultValue `'fp32'` */
  onnxVariant?: OnnxVariant;
  /** The Hugging Face Hub or a mirror. @defaultValue `env.HF_ENDPOINT`, else `https://huggingface.co` */
  hubEndpoint?: string;
  /** Token for gated or private Hub repositories, or `false` for none. @defaultValue `env.HF_TOKEN` */
  hubToken?: string | false;
  /** The Hugging Face cache to look in first, or `false` to skip it. @defaultValue from `HF_HUB_CACHE` / `HF_HOME` */
  huggingFaceCache?: string | false;
}

/** True when `value` should be read as a file path rather than a zoo id. */
export function looksLikePath(value: string): boolean {
  return value.includes('/') || value.includes('\\') || value.toLowerCase().endsWith('.onnx') || value.startsWith('.') || value.startsWith('~');
}

/**
 * `hf:…` is a Hugging Face Hub model (resolveHubModel: caches first, then the Hub); an existing file is used as is
 * (hashed once per version of the file: sha256FileCached); a Hub alias from models/hub.json (`dinov2-small`) is its Hub reference; a value that looks
 * like a path but does not exist fails with FILE_NOT_FOUND; anything else is a zoo id or alias, downloaded (or found
 * in the cache) by downloadModel.
 */
export async function resolveBackbone(idOrPath: string, options: ResolveBackboneOptions = {}): Promise<ResolvedBackbone> {
  if (typeof idOrPath !== 'string' || idOrPath.trim() === '') {
    throw new TypeError(`resolveBackbone: 'idOrPath' must be a zoo id or a path, got ${JSON.stringify(idOrPath)}.`);
  }
  const value = idOrPath.trim();
  if (isHubReference(value)) return fromHub(value, undefined, options);
  const path = resolve(value);
  const info = await stat(path).catch(() => null);
  if (info?.isFile()) {
    const sha256 = await sha256FileCached(path, options.home === undefined ? {} : { home: options.home });
    const entry = listModels().find((candidate) => candidate.sha256 === sha256) ?? null;
    return { id: entry?.id ?? basename(path), path, sha256, entry, hub: null };
  }
  if (info?.isDirectory()) {
    throw new FinetuneError('FILE_NOT_FOUND', `Backbone "${value}" is a directory, not an .onnx file.`,
      'Pass the model file itself, e.g. --backbone ./models/backbone.onnx, or a zoo id from `finetune models list`.');
  }
  const hubAlias = findModel(value) ? undefined : findHubAlias(value);
  if (hubAlias) return fromHub(hubAliasReference(hubAlias), hubAlias, options);
  if (looksLikePath(value) && !findModel(value)) {
    throw new FinetuneError('FILE_NOT_FOUND', `Backbone file "${value}" does not exist (looked at ${path}).`,
      'Check the path, or pass a zoo id such as mobilenetv2 or resnet50 (see `finetune models list`).');
  }
  // The download machinery (undici…) loads only for sources that may need it, not for a local file.
  const { downloadModel } = await import('./download.js');
  const downloaded = await downloadModel(value, options);
  const entry = findModel(value)!;
  return { id: entry.id, path: downloaded.path, sha256: downloaded.sha256, entry, hub: null };
}

/** A Hub model by reference, or by a catalog alias (whose sha256, once verified, must match). */
async function fromHub(reference: string, hubAlias: HubAlias | undefined, options: ResolveBackboneOptions): Promise<ResolvedBackbone> {
  const { onnxVariant, hubEndpoint, hubToken, huggingFaceCache, mirror: _zooMirror, ...common } = options;
  if (hubAlias) {
    options.onProgress?.({ stage: 'info', status: 'message', message: `${hubAlias.alias} is ${reference}` +
      (hubAlias.verified ? '' : ' (its sha256 is not in the catalog yet: the Hub\'s own checksum is verified, and the sha256 used is recorded)') });
  }
  const { resolveHubModel } = await import('./hub.js');
  const hub = await resolveHubModel(reference, {
    ...common,
    ...(onnxVariant !== undefined ? { variant: onnxVariant } : {}),
    ...(hubEndpoint !== undefined ? { endpoint: hubEndpoint } : {}),
    ...(hubToken !== undefined ? { token: hubToken } : {}),
    ...(huggingFaceCache !== undefined ? { huggingFaceCache } : {}),
  });
  if (hubAlias?.sha256 && hub.sha256 !== hubAlias.sha256) throw new ChecksumMismatchError(hub.file, hubAlias.sha256, hub.sha256);
  return { id: hub.reference, path: hub.file, sha256: hub.sha256, entry: null, hub };
}
