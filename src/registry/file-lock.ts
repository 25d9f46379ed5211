/**
 * A cross-process lock file: created with O_EXCL, holding `{ pid, hostname, createdAt }`, its mtime refreshed
 * while held. A lock whose process is gone (same host) or whose mtime is older than `staleMs` is broken.
 */
import { open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

export interface FileLockOptions {
  /** A lock not refreshed for this long is considered abandoned (its holder refreshes it every staleMs / 4). @defaultValue `60000` */
  staleMs?: number;
  /** How often a waiter checks the lock again. @defaultValue `100` */
  pollMs?: number;
  /** Called once when the lock is held by someone else and we start waiting. */
  onWait?: (holder: LockHolder | null) => void;
  signal?: AbortSignal;
}

export interface LockHolder {
  readonly pid: number;
  readonly hostname: string;
  readonly createdAt: string;
}

export interface FileLock {
  readonly path: string;
  /** Removes the lock file; safe to call twice. */
  release(): Promise<void>;
}

/** Waits until `lockPath` can be created exclusively, then returns the held lock. */
export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<FileLock> {
  const staleMs = options.staleMs ?? 60_000;
  const pollMs = options.pollMs ?? 100;
  const self: LockHolder = { pid: process.pid, hostname: hostname(), createdAt: new Date().toISOString() };
  let waiting = false;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const handle = await open(lockPath, 'wx');
      try {
        await handle.writeFile(JSON.stringify(self));
      } finally {
        await handle.close();
      }
      return heldLock(lockPath, staleMs);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readHolder(lockPath);
    if (await isStale(lockPath, holder, staleMs)) {
      await breakLock(lockPath, holder);
      continue;
    }
    if (!waiting) {
      waiting = true;
      options.onWait?.(holder);
    }
    await sleep(pollMs, options.signal);
  }
}

function heldLock(path: string, staleMs: number): FileLock {
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, Math.max(10, Math.floor(staleMs / 4)));
  heartbeat.unref();
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      await rm(path, { force: true });
    },
  };
}

async function readHolder(path: string): Promise<LockHolder | null> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<LockHolder>;
    if (typeof parsed.pid !== 'number' || typeof parsed.hostname !== 'string') return null;
    return { pid: parsed.pid, hostname: parsed.hostname, createdAt: String(parsed.createdAt ?? '') };
  } catch {
    return null; // vanished, or created but not yet written
  }
}

async function isStale(path: string, holder: LockHolder | null, staleMs: number): Promise<boolean> {
  if (holder && holder.hostname === hostname() && !isProcessAlive(holder.pid)) return true;
  try {
    const { mtimeMs } = await stat(path);
    return Date.now() - mtimeMs > staleMs;
  } catch {
    return false; // released meanwhile: the next loop creates it
  }
}

/** Moves the stale lock aside only if it still holds what we judged stale, so a fresh lock is not removed. */
async function breakLock(path: string, judged: LockHolder | null): Promise<void> {
  const current = await readHolder(path);
  if (JSON.stringify(current) !== JSON.stringify(judged)) return;
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, aside);
    await rm(aside, { force: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
