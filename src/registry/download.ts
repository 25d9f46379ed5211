/**
 * Downloads a zoo model into the cache (through transfer.ts: resume, retries, sha256, atomic rename, one process per
 * file), from the catalog's URLs or a mirror with the zoo's layout, and never hands out a partial or wrong file.
 */
import { FinetuneError } from '../errors.js';
import { getModel, validateEntry } from './catalog.js';
import type { ZooEntry } from './catalog.js';
import type { DownloadFailure } from './download-error.js';
import { checkCachedModel } from './model-cache.js';
import { fetchToCache, openTransfer } from './transfer.js';
import type { Transfer, TransferOptions } from './transfer.js';

export type { Env } from './http-get.js';
export { DEFAULT_MIN_SPEED_BYTES_PER_SEC, MIN_SPEED_ENV } from './transfer.js';

/** Environment variable holding a mirror base URL (same as `--mirror`). */
export const MIRROR_ENV = 'FINETUNE_ZOO_MIRROR';

export interface DownloadOptions extends TransferOptions {
  /** finetune's cache home; models go to `<home>/models/<zoo path>`. @defaultValue `$FINETUNE_HOME`, else `~/.cache/finetune` */
  home?: string;
  /**
   * Base URL that replaces the catalog hosts: the file is fetched from `<mirror>/<zoo path>` only.
   * An empty string means no mirror. @defaultValue `env.FINETUNE_ZOO_MIRROR`
   */
  mirror?: string;
  /** Never touch the network: a model missing from the cache fails with OFFLINE. @defaultValue `false` */
  offline?: boolean;
  /** Hash a cached file again even when its `.sha256` sidecar matches. @defaultValue `false` */
  rehash?: boolean;
}

export interface DownloadResult {
  readonly id: string;
  /** Absolute path of the verified file in the cache. */
  readonly path: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  /** True when no byte was downloaded by this call (already cached, or another process just fetched it). */
  readonly fromCache: boolean;
  /** The URL that served the file, when this call downloaded it. */
  readonly url?: string;
}

/** The URLs downloadModel tries for `entry`: the mirror's alone when one is set, else the catalog's in order. */
export function downloadUrls(entry: Pick<ZooEntry, 'path' | 'urls'>, mirror?: string): string[] {
  if (mirror === undefined || mirror.trim() === '') return [...entry.urls];
  let base: URL;
  try {
    base = new URL(mirror.trim());
  } catch {
    base = new URL('invalid:');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new FinetuneError('INVALID_OPTION', `Mirror "${mirror}" is not an http(s) URL.`,
      'Pass a base URL such as --mirror http://127.0.0.1:8080/ that serves the zoo layout (validated/vision/...).');
  }
  return [`${base.href.replace(/\/+$/, '')}/${entry.path}`];
}

/**
 * Makes sure the model is in the cache and verified, downloading it if needed, and returns its path.
 * `entryOrId` is a catalog id or alias, or an entry object (for hosts of your own; it is validated).
 */
export async function downloadModel(entryOrId: ZooEntry | string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const entry = typeof entryOrId === 'string' ? getModel(entryOrId) : validateEntry(entryOrId);
  const transfer = openTransfer(options);
  try {
    return await pullEntry(entry, options, transfer);
  } finally {
    await transfer.close();
  }
}

async function pullEntry(entry: ZooEntry, options: DownloadOptions, transfer: Transfer): Promise<DownloadResult> {
  const mirror = options.mirror ?? transfer.env[MIRROR_ENV];
  const urls = downloadUrls(entry, mirror);
  const home = options.home;
  const cacheHit = (path: string): DownloadResult => ({ id: entry.id, path, sha256: entry.sha256, sizeBytes: entry.sizeBytes, fromCache: true });

  const cached = await checkCachedModel(entry, home, options.rehash ?? false);
  if (cached.ok) return cacheHit(cached.path);
  const path = cached.path;
  if (options.offline ?? false) {
    throw new FinetuneError('OFFLINE',
      `Model "${entry.id}" is not in the cache (${path})${cached.reason ? `: ${cached.reason}` : ''}, and offline mode forbids downloading it.`,
      `Run \`finetune models pull ${entry.id}\` while online (or with --mirror <url>), or pass a local model with --backbone ./file.onnx.`);
  }
  const usedMirror = mirror !== undefined && mirror.trim() !== '';
  const fetched = await fetchToCache(transfer, { name: entry.id, path, sizeBytes: entry.sizeBytes, sha256: entry.sha256 }, urls,
    (failures) => failureHint(entry, failures, usedMirror),
    async () => ((await checkCachedModel(entry, home, false)).ok ? cacheHit(path) : null)); // another process may have finished meanwhile
  return { id: entry.id, ...fetched };
}

function failureHint(entry: ZooEntry, failures: readonly DownloadFailure[], usedMirror: boolean): string {
  const waysOut = 'pass --mirror <url> (or set FINETUNE_ZOO_MIRROR) to a server with the zoo layout, or use a local model with --backbone ./file.onnx';
  if (failures.some((f) => f.reason === 'slow')) return `The host sent too slowly: retry later, or ${waysOut}.`;
  if (usedMirror) return `Check that the mirror serves "${entry.path}" under its base URL, or use a local model with --backbone ./file.onnx.`;
  if (failures.every((f) => f.reason === 'unreachable')) return `You seem to be offline: ${waysOut}.`;
  return `Retry later, or ${waysOut}.`;
}
