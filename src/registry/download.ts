/**
 * Downloads a zoo model into the cache and never hands out a partial or wrong file:
 * stream to `<file>.part` → (resume with Range after a drop, retry with backoff) → verify size and sha256 →
 * write the `.sha256` sidecar → rename into place. One process downloads while the others wait on a lock file.
 */
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ChecksumMismatchError, FinetuneError } from '../errors.js';
import type { ProgressCallback, ProgressEvent } from '../types.js';
import { sha256File } from '../util/hash.js';
import { getModel, validateEntry } from './catalog.js';
import type { ZooEntry } from './catalog.js';
import { DownloadError } from './download-error.js';
import type { DownloadFailure } from './download-error.js';
import { acquireFileLock, sleep } from './file-lock.js';
import { classify, createHttpClient, discardBody, headerValue, httpGet, isAbort, RequestFailure } from './http-get.js';
import type { Env, HttpClient, HttpGetResult } from './http-get.js';
import { checkCachedModel, lockPath, partialPath, writeSidecar } from './model-cache.js';

export type { Env } from './http-get.js';

/** Environment variable holding a mirror base URL (same as `--mirror`). */
export const MIRROR_ENV = 'FINETUNE_ZOO_MIRROR';
/** Environment variable holding the minimum download speed in bytes/s (same as `--min-download-speed`). */
export const MIN_SPEED_ENV = 'FINETUNE_MIN_DOWNLOAD_SPEED';
/** Default of `minSpeedBytesPerSec`: 10 kB/s, below which even a 14 MB model takes over 20 minutes. */
export const DEFAULT_MIN_SPEED_BYTES_PER_SEC = 10_000;

export interface DownloadOptions {
  /** finetune's cache home; models go to `<home>/models/<zoo path>`. @defaultValue `$FINETUNE_HOME`, else `~/.cache/finetune` */
  home?: string;
  /**
   * Base URL that replaces the catalog hosts: the file is fetched from `<mirror>/<zoo path>` only.
   * An empty string means no mirror. @defaultValue `env.FINETUNE_ZOO_MIRROR`
   */
  mirror?: string;
  /** Never touch the network: a model missing from the cache fails with OFFLINE. @defaultValue `false` */
  offline?: boolean;
  /** Receives `stage: 'download'` events (start, throttled progress, retry, done) and `info` while waiting on a lock. */
  onProgress?: ProgressCallback;
  /** Time allowed for TCP connect and TLS handshake per request (to the server, or to the proxy). @defaultValue `10000` */
  connectTimeoutMs?: number;
  /** Longest silence allowed from a connected server before the attempt fails (and is retried). @defaultValue `30000` */
  idleTimeoutMs?: number;
  /**
   * A body arriving slower than this, averaged over `speedWindowMs`, is abandoned and retried (resuming where it
   * stopped); slow attempts count against `retries` even though bytes arrived, so a trickling server fails in
   * minutes instead of hours. `0` disables the check.
   * @defaultValue `env.FINETUNE_MIN_DOWNLOAD_SPEED`, else `10000` (10 kB/s)
   */
  minSpeedBytesPerSec?: number;
  /** The window over which `minSpeedBytesPerSec` is measured. @defaultValue `60000` */
  speedWindowMs?: number;
  /** Retries per URL after a dropped connection, a stall, or HTTP 5xx/408/429; an attempt that made progress resets the count. @defaultValue `3` */
  retries?: number;
  /** Delay before the first retry; doubles each time, up to 30 s. @defaultValue `500` */
  retryDelayMs?: number;
  /**
   * Proxy URL (http, https or socks5) for every request, or `false` for none.
   * @defaultValue from `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` in `env` (loopback hosts always direct)
   */
  proxy?: string | false;
  /** Where proxy and mirror variables are read. @defaultValue `process.env` */
  env?: Env;
  /** Hash a cached file again even when its `.sha256` sidecar matches. @defaultValue `false` */
  rehash?: boolean;
  /** A download lock not refreshed for this long is taken over. @defaultValue `60000` */
  lockStaleMs?: number;
  signal?: AbortSignal;
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

interface Settings {
  readonly client: HttpClient;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly minSpeedBytesPerSec: number;
  readonly speedWindowMs: number;
  readonly emit: (event: ProgressEvent) => void;
  readonly signal: AbortSignal | undefined;
}

/** A local failure (disk full, permissions): no other URL can help, so it ends the download at once. */
class CacheWriteError extends FinetuneError {}

const PROGRESS_INTERVAL_MS = 100;
const MAX_RETRY_DELAY_MS = 30_000;

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
  const env = options.env ?? process.env;
  const settings = resolveSettings(options, env);
  try {
    return await pullEntry(entry, options, env, settings);
  } finally {
    await settings.client.close();
  }
}

async function pullEntry(entry: ZooEntry, options: DownloadOptions, env: Env, settings: Settings): Promise<DownloadResult> {
  const mirror = options.mirror ?? env[MIRROR_ENV];
  const urls = downloadUrls(entry, mirror);
  const home = options.home;
  const rehash = options.rehash ?? false;
  const cacheHit = (path: string): DownloadResult => ({ id: entry.id, path, sha256: entry.sha256, sizeBytes: entry.sizeBytes, fromCache: true });

  const cached = await checkCachedModel(entry, home, rehash);
  if (cached.ok) return cacheHit(cached.path);
  const path = cached.path;
  if (options.offline ?? false) {
    throw new FinetuneError('OFFLINE',
      `Model "${entry.id}" is not in the cache (${path})${cached.reason ? `: ${cached.reason}` : ''}, and offline mode forbids downloading it.`,
      `Run \`finetune models pull ${entry.id}\` while online (or with --mirror <url>), or pass a local model with --backbone ./file.onnx.`);
  }

  await mkdir(dirname(path), { recursive: true });
  const lock = await acquireFileLock(lockPath(path), {
    staleMs: options.lockStaleMs ?? 60_000,
    ...(settings.signal ? { signal: settings.signal } : {}),
    onWait: (holder) => settings.emit({
      stage: 'info', status: 'message',
      message: `Waiting for ${holder ? `process ${holder.pid} on ${holder.hostname}` : 'another process'} to finish downloading ${entry.id}…`,
    }),
  });
  const part = partialPath(path);
  try {
    const again = await checkCachedModel(entry, home, false); // another process may have finished meanwhile
    if (again.ok) return cacheHit(again.path);
    const failures: Array<{ failure: DownloadFailure; error: Error }> = [];
    for (const url of urls) {
      try {
        await fetchToFile(url, part, entry, settings);
        settings.emit({ stage: 'download', status: 'progress', name: entry.id, url, loadedBytes: entry.sizeBytes,
          totalBytes: entry.sizeBytes, message: 'verifying sha256' });
        const actual = await localStep(part, () => sha256File(part));
        if (actual !== entry.sha256) throw new ChecksumMismatchError(path, entry.sha256, actual, url);
        await localStep(path, async () => {
          await writeSidecar(path, actual);
          await rename(part, path);
        });
        settings.emit({ stage: 'download', status: 'done', name: entry.id, url, loadedBytes: entry.sizeBytes, totalBytes: entry.sizeBytes });
        return { id: entry.id, path, sha256: actual, sizeBytes: entry.sizeBytes, fromCache: false, url };
      } catch (error) {
        await rm(part, { force: true });
        if (settings.signal?.aborted || isAbort(error) || error instanceof CacheWriteError || !(error instanceof RequestFailure || error instanceof FinetuneError)) throw error;
        failures.push({ failure: describeFailure(url, error), error });
      }
    }
    throw failureError(entry, failures, mirror !== undefined && mirror.trim() !== '');
  } finally {
    await rm(part, { force: true });
    await lock.release();
  }
}

function resolveSettings(options: DownloadOptions, env: Env): Settings {
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const retries = options.retries ?? 3;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const minSpeedBytesPerSec = options.minSpeedBytesPerSec ?? minSpeedFromEnv(env) ?? DEFAULT_MIN_SPEED_BYTES_PER_SEC;
  const speedWindowMs = options.speedWindowMs ?? 60_000;
  for (const [name, value] of [['connectTimeoutMs', connectTimeoutMs], ['idleTimeoutMs', idleTimeoutMs], ['retryDelayMs', retryDelayMs],
    ['minSpeedBytesPerSec', minSpeedBytesPerSec], ['speedWindowMs', speedWindowMs]] as const) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`downloadModel: '${name}' must be a non-negative number, got ${value}.`);
  }
  if (!Number.isInteger(retries) || retries < 0) throw new RangeError(`downloadModel: 'retries' must be a non-negative integer, got ${retries}.`);
  const onProgress = options.onProgress;
  return {
    client: createHttpClient({
      proxy: options.proxy, env, connectTimeoutMs: Math.max(1, connectTimeoutMs), idleTimeoutMs: Math.max(1, idleTimeoutMs),
    }),
    retries,
    retryDelayMs,
    minSpeedBytesPerSec,
    speedWindowMs: Math.max(1, speedWindowMs),
    emit: onProgress ? (event) => onProgress(event) : () => undefined,
    signal: options.signal,
  };
}

function minSpeedFromEnv(env: Env): number | undefined {
  const raw = env[MIN_SPEED_ENV]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new FinetuneError('INVALID_OPTION', `${MIN_SPEED_ENV}="${raw}" is not a speed in bytes per second.`,
      `Set ${MIN_SPEED_ENV} to a number such as 10000 (10 kB/s), or 0 to turn the check off.`);
  }
  return value;
}

/** Runs a filesystem step; its errors become CacheWriteError (fatal: another URL cannot fix a full disk). */
async function localStep<T>(path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (cause) {
    throw new CacheWriteError('DOWNLOAD_FAILED', `Could not write "${path}": ${(cause as Error).message}`,
      'Check free space and permissions of the cache directory, or point FINETUNE_HOME elsewhere.', { cause });
  }
}

/** Downloads `url` into `part`, resuming and retrying; returns once `part` holds exactly entry.sizeBytes bytes. */
async function fetchToFile(url: string, part: string, entry: ZooEntry, settings: Settings): Promise<void> {
  await rm(part, { force: true }); // bytes from another URL are not resumed: each host's bytes are judged alone
  settings.emit({ stage: 'download', status: 'start', name: entry.id, url, loadedBytes: 0, totalBytes: entry.sizeBytes });
  let received = 0;
  let failuresInARow = 0;
  for (;;) {
    const before = received;
    try {
      await attempt(url, part, received, entry, settings);
      return;
    } catch (error) {
      if (!(error instanceof RequestFailure) || !isRetryable(error)) throw error;
      received = await fileSize(part);
      failuresInARow = received > before && error.kind !== 'slow' ? 1 : failuresInARow + 1;
      if (failuresInARow > settings.retries) throw error;
      const delayMs = Math.min(MAX_RETRY_DELAY_MS, settings.retryDelayMs * 2 ** (failuresInARow - 1));
      settings.emit({
        stage: 'download', status: 'retry', name: entry.id, url, loadedBytes: received, totalBytes: entry.sizeBytes,
        message: `${error.message}; retry ${failuresInARow} of ${settings.retries} in ${(delayMs / 1000).toFixed(1)} s` +
          (received > 0 ? `, resuming at byte ${received}` : ''),
      });
      await sleep(delayMs, settings.signal);
    }
  }
}

function isRetryable(error: RequestFailure): boolean {
  if (error.kind === 'timeout' || error.kind === 'dropped' || error.kind === 'slow') return true;
  if (error.kind === 'http') return error.status !== undefined && (error.status >= 500 || error.status === 408 || error.status === 429);
  return false; // unreachable: the next URL, not the same one again
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** One request: from byte `received` (a Range request when > 0) to the end or the first failure. */
async function attempt(url: string, part: string, received: number, entry: ZooEntry, settings: Settings): Promise<void> {
  const response = await httpGet(settings.client, url, {
    headers: received > 0 ? { range: `bytes=${received}-` } : {},
    ...(settings.signal ? { signal: settings.signal } : {}),
  });
  const servedBy = response.url;
  const status = response.statusCode;
  const contentLength = headerValue(response.headers, 'content-length');
  const contentRange = headerValue(response.headers, 'content-range');
  let offset = 0;
  let declaredTotal: number | null = null;
  if (status === 200) {
    const length = Number(contentLength);
    declaredTotal = contentLength !== undefined && Number.isFinite(length) ? length : null;
  } else if (status === 206 && received > 0) {
    const range = parseContentRange(contentRange);
    if (!range || range.start !== received) {
      discardBody(response.body);
      await rm(part, { force: true });
      throw new RequestFailure(`HTTP 206 with Content-Range "${contentRange ?? ''}" for a request from byte ${received}; restarting`, 'dropped');
    }
    offset = received;
    declaredTotal = range.total;
  } else if (status === 416 && received > 0) {
    discardBody(response.body);
    if (received === entry.sizeBytes) return; // everything had arrived before the connection dropped
    await rm(part, { force: true });
    throw new RequestFailure(`HTTP 416 for a request from byte ${received}; restarting`, 'dropped', 416);
  } else {
    discardBody(response.body);
    throw new RequestFailure(`HTTP ${status}`, 'http', status);
  }
  if (declaredTotal !== null && declaredTotal !== entry.sizeBytes) {
    discardBody(response.body);
    const type = headerValue(response.headers, 'content-type');
    throw new FinetuneError('CHECKSUM_MISMATCH',
      `"${servedBy}" serves ${declaredTotal} bytes${type ? ` of ${type}` : ''}, expected ${entry.sizeBytes} bytes of "${entry.path}".`,
      'The host does not serve this model (an LFS pointer or an error page?); use --mirror or --backbone ./file.onnx.');
  }
  await receiveBody(response, part, offset, url, entry, settings);
}

async function receiveBody(
  response: HttpGetResult, part: string, offset: number, url: string, entry: ZooEntry, settings: Settings,
): Promise<void> {
  const handle: FileHandle = await localStep(part, () => open(part, offset === 0 ? 'w' : 'a'));
  let loaded = offset;
  let lastEmit = 0;
  const { minSpeedBytesPerSec, speedWindowMs } = settings;
  let windowStart = Date.now();
  let windowBytes = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      if (loaded + chunk.length > entry.sizeBytes) {
        discardBody(response.body);
        throw new FinetuneError('CHECKSUM_MISMATCH', `"${url}" served more than the expected ${entry.sizeBytes} bytes of "${entry.path}".`,
          'The host serves a different file; use --mirror or --backbone ./file.onnx.');
      }
      await localStep(part, () => handle.write(chunk));
      loaded += chunk.length;
      windowBytes += chunk.length;
      const now = Date.now();
      if (now - windowStart >= speedWindowMs) {
        const bytesPerSec = (windowBytes * 1000) / (now - windowStart);
        if (bytesPerSec < minSpeedBytesPerSec) {
          discardBody(response.body);
          throw new RequestFailure(`${formatSpeed(bytesPerSec)} over the last ${formatSeconds(now - windowStart)}, below the minimum of ` +
            `${formatSpeed(minSpeedBytesPerSec)} (minSpeedBytesPerSec)`, 'slow');
        }
        windowStart = now;
        windowBytes = 0;
      }
      if (now - lastEmit >= PROGRESS_INTERVAL_MS) {
        lastEmit = now;
        settings.emit({ stage: 'download', status: 'progress', name: entry.id, url, loadedBytes: loaded, totalBytes: entry.sizeBytes });
      }
    }
  } catch (error) {
    if (error instanceof RequestFailure || error instanceof FinetuneError || settings.signal?.aborted) throw error;
    const failure = classify(error, new URL(response.url), settings.client);
    if (failure instanceof RequestFailure && failure.kind !== 'dropped') throw failure;
    throw new RequestFailure(`connection lost after ${loaded} of ${entry.sizeBytes} bytes (${(error as Error).message})`, 'dropped', undefined, { cause: error });
  } finally {
    await handle.close();
  }
  if (loaded < entry.sizeBytes) {
    throw new RequestFailure(`connection closed after ${loaded} of ${entry.sizeBytes} bytes`, 'dropped');
  }
  settings.emit({ stage: 'download', status: 'progress', name: entry.id, url, loadedBytes: loaded, totalBytes: entry.sizeBytes });
}

const formatSpeed = (bytesPerSec: number): string =>
  bytesPerSec >= 1e6 ? `${(bytesPerSec / 1e6).toFixed(1)} MB/s` : bytesPerSec >= 1e3 ? `${(bytesPerSec / 1e3).toFixed(1)} kB/s` : `${Math.round(bytesPerSec)} B/s`;
const formatSeconds = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

function parseContentRange(header: string | undefined): { start: number; end: number; total: number | null } | null {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (!match) return null;
  return { start: Number(match[1]), end: Number(match[2]), total: match[3] === '*' ? null : Number(match[3]) };
}

function describeFailure(url: string, error: RequestFailure | FinetuneError): DownloadFailure {
  if (error instanceof RequestFailure) {
    return { url, reason: error.kind, message: error.message, ...(error.status !== undefined ? { status: error.status } : {}) };
  }
  const reason = error instanceof ChecksumMismatchError ? 'checksum' : error.code === 'CHECKSUM_MISMATCH' ? 'size' : 'http';
  return { url, reason, message: error.message };
}

function failureError(entry: ZooEntry, failures: ReadonlyArray<{ failure: DownloadFailure; error: Error }>, usedMirror: boolean): Error {
  const only = failures.length === 1 ? failures[0]!.error : undefined;
  if (only instanceof ChecksumMismatchError) return only;
  const list = failures.map(({ failure }) => failure);
  const all = (reasons: readonly string[]): boolean => list.every((f) => reasons.includes(f.reason));
  const code = all(['checksum', 'size']) ? 'CHECKSUM_MISMATCH' : all(['timeout', 'slow']) ? 'DOWNLOAD_TIMEOUT' : 'DOWNLOAD_FAILED';
  const sizeMb = (entry.sizeBytes / 1e6).toFixed(1);
  const what = all(['unreachable']) ? 'no host was reachable' : `${list.length === 1 ? 'the URL' : `all ${list.length} URLs`} failed`;
  const message = `Could not download "${entry.id}" (${sizeMb} MB): ${what}.\n` +
    list.map((f) => `  ${f.url}: ${f.message}`).join('\n');
  const waysOut = 'pass --mirror <url> (or set FINETUNE_ZOO_MIRROR) to a server with the zoo layout, or use a local model with --backbone ./file.onnx';
  const hint = list.some((f) => f.reason === 'slow')
    ? `The host sent too slowly: retry later, ${waysOut}; on a slow link lower the limit with ${MIN_SPEED_ENV}=<bytes/s> ` +
      `(0 turns the check off).`
    : usedMirror
      ? `Check that the mirror serves "${entry.path}" under its base URL, or use a local model with --backbone ./file.onnx.`
      : all(['unreachable'])
        ? `You seem to be offline: ${waysOut}.`
        : `Retry later, or ${waysOut}.`;
  const errors = failures.map(({ error }) => error);
  return new DownloadError(code, message, hint, list, { cause: errors.length === 1 ? errors[0] : new AggregateError(errors, message) });
}
