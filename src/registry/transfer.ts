/**
 * Fetching one file into a cache without ever handing out a partial or wrong one, for every backbone source (zoo,
 * Hugging Face Hub): stream to `<file>.part` → (resume with Range after a drop, retry with backoff, give up on a
 * trickle) → verify size and sha256 (or the Hub's git blob hash) → write the `.sha256` sidecar → rename into place.
 * One process downloads while the others wait on a lock file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ChecksumMismatchError, FinetuneError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { ProgressCallback, ProgressEvent } from '../types.js';
import { formatBytes, formatRate } from '../util/format.js';
import { DownloadError } from './download-error.js';
import type { DownloadFailure } from './download-error.js';
import { acquireFileLock, sleep } from './file-lock.js';
import { classify, createHttpClient, discardBody, headerValue, httpGet, isAbort, RequestFailure } from './http-get.js';
import type { Env, HttpClient, HttpGetResult } from './http-get.js';
import { lockPath, partialPath, writeSidecar } from './model-cache.js';

/** Environment variable holding the minimum download speed in bytes/s (same as `--min-download-speed`). */
export const MIN_SPEED_ENV = 'FINETUNE_MIN_DOWNLOAD_SPEED';
/** Default of `minSpeedBytesPerSec`: 10 kB/s, below which even a 14 MB model takes over 20 minutes. */
export const DEFAULT_MIN_SPEED_BYTES_PER_SEC = 10_000;

/** How downloads behave on the network; shared by every backbone source. */
export interface TransferOptions {
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
  /** Where proxy, mirror and token variables are read. @defaultValue `process.env` */
  env?: Env;
  /** A download lock not refreshed for this long is taken over. @defaultValue `60000` */
  lockStaleMs?: number;
  signal?: AbortSignal;
}

/** Resolved transfer settings with an open connection pool; `close()` it when done. */
export interface Transfer {
  readonly client: HttpClient;
  readonly env: Env;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly minSpeedBytesPerSec: number;
  readonly speedWindowMs: number;
  readonly lockStaleMs: number;
  readonly emit: (event: ProgressEvent) => void;
  readonly signal: AbortSignal | undefined;
  close(): Promise<void>;
}

/** One file to bring into a cache. */
export interface FileTarget {
  /** Shown in progress events and messages (`mobilenetv2-12-int8`, `hf:owner/repo@commit:onnx/model.onnx`). */
  readonly name: string;
  /** The final path in the cache. */
  readonly path: string;
  /** Expected size, or null when only the server can say. */
  readonly sizeBytes: number | null;
  /** Expected hex sha256, or null when not known in advance (then it is computed and returned). */
  readonly sha256: string | null;
  /** Expected git blob sha1 (the Hub's ETag of a file not stored in LFS), checked when `sha256` is null. */
  readonly gitBlobSha1?: string | null;
  /** Extra request headers (an `authorization` header is not sent on to other origins after a redirect). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface FetchedFile {
  readonly path: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  /** True when no byte was downloaded by this call (another process fetched it while we waited). */
  readonly fromCache: boolean;
  /** The URL that served the file, when this call downloaded it. */
  readonly url?: string;
}

/** What the caller says when every URL failed: the error's hint, given the failures. */
export type FailureHint = (failures: readonly DownloadFailure[]) => string;

/** A local failure (disk full, permissions): no other URL can help, so it ends the download at once. */
export class CacheWriteError extends FinetuneError {}

const PROGRESS_INTERVAL_MS = 100;
const MAX_RETRY_DELAY_MS = 30_000;

/** Validates the options and opens a connection pool (nothing is sent yet). */
export function openTransfer(options: TransferOptions, caller = 'downloadModel'): Transfer {
  const env = options.env ?? process.env;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const retries = options.retries ?? 3;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const minSpeedBytesPerSec = options.minSpeedBytesPerSec ?? minSpeedFromEnv(env) ?? DEFAULT_MIN_SPEED_BYTES_PER_SEC;
  const speedWindowMs = options.speedWindowMs ?? 60_000;
  const lockStaleMs = options.lockStaleMs ?? 60_000;
  for (const [name, value] of [['connectTimeoutMs', connectTimeoutMs], ['idleTimeoutMs', idleTimeoutMs], ['retryDelayMs', retryDelayMs],
    ['minSpeedBytesPerSec', minSpeedBytesPerSec], ['speedWindowMs', speedWindowMs], ['lockStaleMs', lockStaleMs]] as const) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`${caller}: '${name}' must be a non-negative number, got ${value}.`);
  }
  if (!Number.isInteger(retries) || retries < 0) throw new RangeError(`${caller}: 'retries' must be a non-negative integer, got ${retries}.`);
  const onProgress = options.onProgress;
  const client = createHttpClient({
    proxy: options.proxy, env, connectTimeoutMs: Math.max(1, connectTimeoutMs), idleTimeoutMs: Math.max(1, idleTimeoutMs),
  });
  return {
    client,
    env,
    retries,
    retryDelayMs,
    minSpeedBytesPerSec,
    speedWindowMs: Math.max(1, speedWindowMs),
    lockStaleMs,
    emit: onProgress ? (event) => onProgress(event) : () => undefined,
    signal: options.signal,
    close: () => client.close(),
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

/**
 * Downloads `target` from the first of `urls` that serves it, verified, into `target.path`, under a lock on that path.
 * `cached()` is asked again once the lock is held (another process may have just finished) and wins when it
 * answers. Throws DownloadError (hint from `hint`) when every URL failed, CHECKSUM_MISMATCH when the only URL served
 * wrong bytes, or the CacheWriteError / abort that stopped it.
 */
export async function fetchToCache(
  transfer: Transfer, target: FileTarget, urls: readonly string[], hint: FailureHint,
  cached: () => Promise<FetchedFile | null> = async () => null,
): Promise<FetchedFile> {
  const { path } = target;
  await mkdir(dirname(path), { recursive: true });
  const lock = await acquireFileLock(lockPath(path), {
    staleMs: transfer.lockStaleMs,
    ...(transfer.signal ? { signal: transfer.signal } : {}),
    onWait: (holder) => transfer.emit({
      stage: 'info', status: 'message',
      message: `Waiting for ${holder ? `process ${holder.pid} on ${holder.hostname}` : 'another process'} to finish downloading ${target.name}…`,
    }),
  });
  const part = partialPath(path);
  try {
    const again = await cached();
    if (again) return again;
    const failures: Array<{ failure: DownloadFailure; error: Error }> = [];
    for (const url of urls) {
      try {
        const sizeBytes = await fetchToFile(url, part, target, transfer);
        transfer.emit({ stage: 'download', status: 'progress', name: target.name, url, loadedBytes: sizeBytes,
          totalBytes: sizeBytes, message: 'verifying sha256' });
        const hashes = await localStep(part, () => hashFile(part));
        if (target.sha256 !== null && hashes.sha256 !== target.sha256) throw new ChecksumMismatchError(path, target.sha256, hashes.sha256, url);
        if (target.sha256 === null && target.gitBlobSha1 && hashes.gitBlobSha1 !== target.gitBlobSha1) {
          throw new ChecksumMismatchError(path, `git blob ${target.gitBlobSha1}`, `git blob ${hashes.gitBlobSha1}`, url);
        }
        await localStep(path, async () => {
          await writeSidecar(path, hashes.sha256);
          await rename(part, path);
        });
        transfer.emit({ stage: 'download', status: 'done', name: target.name, url, loadedBytes: sizeBytes, totalBytes: sizeBytes });
        return { path, sha256: hashes.sha256, sizeBytes, fromCache: false, url };
      } catch (error) {
        await rm(part, { force: true });
        if (transfer.signal?.aborted || isAbort(error) || error instanceof CacheWriteError
          || !(error instanceof RequestFailure || error instanceof FinetuneError)) throw error;
        failures.push({ failure: describeFailure(url, error), error });
      }
    }
    throw failureError(target, failures, hint);
  } finally {
    await rm(part, { force: true });
    await lock.release();
  }
}

/** sha256 and git blob sha1 (`sha1("blob <size>\0" + bytes)`, the Hub's ETag of non-LFS files) in one pass. */
async function hashFile(path: string): Promise<{ sha256: string; gitBlobSha1: string }> {
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1').update(`blob ${(await stat(path)).size}\0`);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    sha256.update(chunk as Buffer);
    sha1.update(chunk as Buffer);
  }
  return { sha256: sha256.digest('hex'), gitBlobSha1: sha1.digest('hex') };
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

/** Downloads `url` into `part`, resuming and retrying; returns the size once `part` holds the whole file. */
async function fetchToFile(url: string, part: string, target: FileTarget, transfer: Transfer): Promise<number> {
  await rm(part, { force: true }); // bytes from another URL are not resumed: each host's bytes are judged alone
  transfer.emit({ stage: 'download', status: 'start', name: target.name, url, loadedBytes: 0, totalBytes: target.sizeBytes });
  let received = 0;
  let failuresInARow = 0;
  let totalBytes = target.sizeBytes;
  for (;;) {
    const before = received;
    try {
      return await attempt(url, part, received, target, transfer, (total) => (totalBytes = total));
    } catch (error) {
      if (!(error instanceof RequestFailure) || !isRetryable(error)) throw error;
      received = await fileSize(part);
      failuresInARow = received > before && error.kind !== 'slow' ? 1 : failuresInARow + 1;
      if (failuresInARow > transfer.retries) throw error;
      const delayMs = Math.min(MAX_RETRY_DELAY_MS, transfer.retryDelayMs * 2 ** (failuresInARow - 1));
      transfer.emit({
        stage: 'download', status: 'retry', name: target.name, url, loadedBytes: received, totalBytes,
        message: `${error.message}; retry ${failuresInARow} of ${transfer.retries} in ${(delayMs / 1000).toFixed(1)} s` +
          (received > 0 ? `, resuming at byte ${received}` : ''),
      });
      await sleep(delayMs, transfer.signal);
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

/**
 * One request: from byte `received` (a Range request when > 0) to the end or the first failure. Returns the file's
 * size once complete; `learnTotal` hears the size as soon as the response declares it.
 */
async function attempt(
  url: string, part: string, received: number, target: FileTarget, transfer: Transfer, learnTotal: (total: number) => void,
): Promise<number> {
  const response = await httpGet(transfer.client, url, {
    headers: { ...target.headers, ...(received > 0 ? { range: `bytes=${received}-` } : {}) },
    ...(transfer.signal ? { signal: transfer.signal } : {}),
  });
  const servedBy = response.url;
  const status = response.statusCode;
  const contentLength = headerValue(response.headers, 'content-length');
  const contentRange = headerValue(response.headers, 'content-range');
  let offset = 0;
  let declaredTotal: number | null = null;
  if (status === 200) {
    const length = Number(contentLength);
    declaredTotal = contentLength !== undefined && Number.isSafeInteger(length) && length >= 0 ? length : null;
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
    const total = parseUnsatisfiedRange(contentRange) ?? target.sizeBytes;
    if (total !== null && received === total) return received; // everything had arrived before the connection dropped
    await rm(part, { force: true });
    throw new RequestFailure(`HTTP 416 for a request from byte ${received}; restarting`, 'dropped', 416);
  } else {
    discardBody(response.body);
    throw new RequestFailure(`HTTP ${status}`, 'http', status);
  }
  if (declaredTotal !== null && target.sizeBytes !== null && declaredTotal !== target.sizeBytes) {
    discardBody(response.body);
    const type = headerValue(response.headers, 'content-type');
    throw new FinetuneError('CHECKSUM_MISMATCH',
      `"${servedBy}" serves ${declaredTotal} bytes${type ? ` of ${type}` : ''}, expected ${target.sizeBytes} bytes of "${target.name}".`,
      'The host does not serve this file (an LFS pointer or an error page?); try another host or a local file.');
  }
  const expected = target.sizeBytes ?? declaredTotal;
  if (expected !== null) learnTotal(expected);
  return receiveBody(response, part, offset, expected, target, transfer);
}

async function receiveBody(
  response: HttpGetResult, part: string, offset: number, expected: number | null, target: FileTarget, transfer: Transfer,
): Promise<number> {
  const handle: FileHandle = await localStep(part, () => open(part, offset === 0 ? 'w' : 'a'));
  const url = response.url;
  let loaded = offset;
  let lastEmit = 0;
  const { minSpeedBytesPerSec, speedWindowMs } = transfer;
  let windowStart = Date.now();
  let windowBytes = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      if (expected !== null && loaded + chunk.length > expected) {
        discardBody(response.body);
        throw new FinetuneError('CHECKSUM_MISMATCH', `"${url}" served more than the expected ${expected} bytes of "${target.name}".`,
          'The host serves a different file; try another host or a local file.');
      }
      await localStep(part, () => handle.write(chunk));
      loaded += chunk.length;
      windowBytes += chunk.length;
      const now = Date.now();
      if (now - windowStart >= speedWindowMs) {
        const bytesPerSec = (windowBytes * 1000) / (now - windowStart);
        if (bytesPerSec < minSpeedBytesPerSec) {
          discardBody(response.body);
          throw new RequestFailure(`${formatRate(bytesPerSec)} over the last ${formatSeconds(now - windowStart)}, below the minimum of ` +
            `${formatRate(minSpeedBytesPerSec)} (minSpeedBytesPerSec)`, 'slow');
        }
        windowStart = now;
        windowBytes = 0;
      }
      if (now - lastEmit >= PROGRESS_INTERVAL_MS) {
        lastEmit = now;
        transfer.emit({ stage: 'download', status: 'progress', name: target.name, url, loadedBytes: loaded, totalBytes: expected });
      }
    }
  } catch (error) {
    if (error instanceof RequestFailure || error instanceof FinetuneError || transfer.signal?.aborted) throw error;
    const failure = classify(error, new URL(url), transfer.client);
    if (failure instanceof RequestFailure && failure.kind !== 'dropped') throw failure;
    throw new RequestFailure(`connection lost after ${loaded} of ${expected ?? '?'} bytes (${(error as Error).message})`, 'dropped', undefined, { cause: error });
  } finally {
    await handle.close();
  }
  if (expected !== null && loaded < expected) {
    throw new RequestFailure(`connection closed after ${loaded} of ${expected} bytes`, 'dropped');
  }
  transfer.emit({ stage: 'download', status: 'progress', name: target.name, url, loadedBytes: loaded, totalBytes: loaded });
  return loaded;
}

const formatSeconds = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

function parseContentRange(header: string | undefined): { start: number; end: number; total: number | null } | null {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (!match) return null;
  return { start: Number(match[1]), end: Number(match[2]), total: match[3] === '*' ? null : Number(match[3]) };
}

/** `bytes *\/1234` (a 416's Content-Range) → 1234. */
function parseUnsatisfiedRange(header: string | undefined): number | null {
  const match = /^bytes \*\/(\d+)$/.exec(header?.trim() ?? '');
  return match ? Number(match[1]) : null;
}

function describeFailure(url: string, error: RequestFailure | FinetuneError): DownloadFailure {
  if (error instanceof RequestFailure) {
    return { url, reason: error.kind, message: error.message, ...(error.status !== undefined ? { status: error.status } : {}) };
  }
  const reason = error instanceof ChecksumMismatchError ? 'checksum' : error.code === 'CHECKSUM_MISMATCH' ? 'size' : 'http';
  return { url, reason, message: error.message };
}

function failureError(target: FileTarget, failures: ReadonlyArray<{ failure: DownloadFailure; error: Error }>, hint: FailureHint): Error {
  const only = failures.length === 1 ? failures[0]!.error : undefined;
  if (only instanceof ChecksumMismatchError) return only;
  const list = failures.map(({ failure }) => failure);
  const all = (reasons: readonly string[]): boolean => list.every((f) => reasons.includes(f.reason));
  const code: ErrorCode = all(['checksum', 'size']) ? 'CHECKSUM_MISMATCH' : all(['timeout', 'slow']) ? 'DOWNLOAD_TIMEOUT' : 'DOWNLOAD_FAILED';
  const size = target.sizeBytes !== null ? ` (${formatBytes(target.sizeBytes)})` : '';
  const what = all(['unreachable']) ? 'no host was reachable' : `${list.length === 1 ? 'the URL' : `all ${list.length} URLs`} failed`;
  const message = `Could not download "${target.name}"${size}: ${what}.\n` + list.map((f) => `  ${f.url}: ${f.message}`).join('\n');
  const slow = list.some((f) => f.reason === 'slow')
    ? ` On a slow link, lower the limit with --min-download-speed <bytes/s> (or ${MIN_SPEED_ENV}; 0 turns the check off).` : '';
  const errors = failures.map(({ error }) => error);
  return new DownloadError(code, message, `${hint(list)}${slow}`, list, { cause: errors.length === 1 ? errors[0] : new AggregateError(errors, message) });
}
