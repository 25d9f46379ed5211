/**
 * Worker threads that train on shared features: the sweep's configs and cross-fitting's folds. How to start one
 * (from the sources or the compiled package), a pool that keeps started workers for the next call, the features
 * shared instead of copied, and errors across the thread boundary.
 */
import { Worker } from 'node:worker_threads';
import { FinetuneError, isFinetuneError } from '../errors.js';
import type { LabelledFeatures } from './training-data.js';

/** The same rows and labels in SharedArrayBuffers (a copy only when they are not shared already). */
export function toSharedFeatures(data: LabelledFeatures): LabelledFeatures {
  return { ...data, features: toShared(data.features, (buffer) => new Float32Array(buffer)), labels: toShared(data.labels, (buffer) => new Int32Array(buffer)) };
}

/** `array` in a SharedArrayBuffer (a copy only when it is not shared already). */
export function toShared<T extends Float32Array | Int32Array | Uint8Array>(array: T, make: (buffer: SharedArrayBuffer) => T): T {
  if (array.buffer instanceof SharedArrayBuffer) return array;
  const copy = make(new SharedArrayBuffer(array.byteLength));
  copy.set(array);
  return copy;
}

/**
 * The parent's Node flags minus tsx's loader flags: a worker registers tsx itself (see the bootstrap), and
 * loading it twice costs about a second per worker.
 */
function workerExecArgv(): string[] {
  const result: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const [name, inlineValue] = flag.includes('=') ? [flag.slice(0, flag.indexOf('=')), flag.slice(flag.indexOf('=') + 1)] : [flag, undefined];
    if (['--import', '--require', '-r', '--loader', '--experimental-loader'].includes(name)) {
      const value = inlineValue ?? argv[i + 1] ?? '';
      if (inlineValue === undefined) i++;
      if (/(^|[\\/])tsx($|[\\/])/.test(value)) continue;
      result.push(name, value);
      continue;
    }
    result.push(flag);
  }
  return result;
}

/**
 * Starts the module `name` of this folder (e.g. 'sweep-worker') in a worker thread with `workerData`. From the
 * compiled package the worker is plain JavaScript (`name`.js). From the sources (tsx), Node 20 cannot start a
 * worker on a .ts file, so it starts on a bootstrap that registers tsx and then imports `workerData.entry`.
 */
export function startTrainWorker(name: string, workerData: object): Worker {
  const fromSources = import.meta.url.endsWith('.ts');
  const entry = new URL(`./${name}.ts`, import.meta.url).href;
  const file = new URL(fromSources ? './train-worker-bootstrap.mjs' : `./${name}.js`, import.meta.url);
  return new Worker(file, { workerData: { ...workerData, entry }, execArgv: workerExecArgv() });
}

/**
 * A worker of the pool (see takeTrainWorkers). Its module posts `{ ready: true }` once it can take work; the pool
 * notes it in `ready` (a caller that takes a worker not yet ready waits for that message itself).
 */
export interface PooledTrainWorker {
  readonly worker: Worker;
  readonly name: string;
  ready: boolean;
  alive: boolean;
  idleTimer: NodeJS.Timeout | null;
}

/**
 * An idle pooled worker is closed after this many milliseconds without a call. Long enough for a run that starts
 * its fold worker before extracting the features (see prewarmTrainWorkers) to find it still there; an idle worker
 * holds its thread's heap and nothing else, and never keeps the process alive.
 */
export const IDLE_WORKER_MS = 60_000;

/** Idle pooled workers by module name: started, unref'd, waiting for the next call. */
const idleWorkers = new Map<string, PooledTrainWorker[]>();

function removeIdle(pooled: PooledTrainWorker): void {
  const idle = idleWorkers.get(pooled.name);
  const index = idle?.indexOf(pooled) ?? -1;
  if (index >= 0) idle!.splice(index, 1);
  if (pooled.idleTimer !== null) clearTimeout(pooled.idleTimer);
  pooled.idleTimer = null;
}

function startPooledWorker(name: string): PooledTrainWorker {
  const pooled: PooledTrainWorker = { worker: startTrainWorker(name, {}), name, ready: false, alive: true, idleTimer: null };
  pooled.worker.on('message', (message: { ready?: unknown }) => { if (message?.ready === true) pooled.ready = true; });
  // The pool's own listeners: an idle worker that fails or exits leaves the pool (and its error is not thrown here).
  pooled.worker.on('error', () => { pooled.alive = false; removeIdle(pooled); });
  pooled.worker.on('exit', () => { pooled.alive = false; removeIdle(pooled); });
  return pooled;
}

/** Puts a worker back in the pool: unref'd (it never keeps the process alive), closed after IDLE_WORKER_MS idle. */
export function releaseTrainWorker(pooled: PooledTrainWorker): void {
  if (!pooled.alive) return;
  pooled.worker.unref();
  pooled.idleTimer = setTimeout(() => { removeIdle(pooled); void pooled.worker.terminate(); }, IDLE_WORKER_MS);
  pooled.idleTimer.unref();
  const idle = idleWorkers.get(pooled.name) ?? [];
  idle.push(pooled);
  idleWorkers.set(pooled.name, idle);
}

/**
 * `count` workers of the module `name` for one call: idle pooled ones first (ready ones before those still
 * starting), then new ones. They keep the process alive until given back (releaseTrainWorker) or terminated.
 */
export function takeTrainWorkers(name: string, count: number): PooledTrainWorker[] {
  const idle = (idleWorkers.get(name) ?? []).filter((pooled) => pooled.alive).sort((a, b) => Number(b.ready) - Number(a.ready));
  const taken = idle.slice(0, count);
  for (const pooled of taken) {
    removeIdle(pooled);
    pooled.worker.ref();
  }
  while (taken.length < count) taken.push(startPooledWorker(name));
  return taken;
}

/** Pooled workers of `name` that are started and idle: ready or still starting, or (`readyOnly`) ready. */
export function idleTrainWorkerCount(name: string, readyOnly = false): number {
  return (idleWorkers.get(name) ?? []).filter((pooled) => pooled.alive && (pooled.ready || !readyOnly)).length;
}

/**
 * Starts workers of `name` in the background until `count` are idle in the pool, so that a call soon after finds
 * them ready (a worker takes ~0.2–0.3 s to start from the compiled package, more from the sources).
 */
export function prewarmTrainWorkers(name: string, count: number): void {
  for (let missing = count - idleTrainWorkerCount(name); missing > 0; missing--) releaseTrainWorker(startPooledWorker(name));
}

/** Closes every idle pooled worker (of `name`, or all). */
export async function closeIdleTrainWorkers(name?: string): Promise<void> {
  const closing = [...idleWorkers.entries()].filter(([key]) => name === undefined || key === name).flatMap(([, idle]) => [...idle]);
  for (const pooled of closing) removeIdle(pooled);
  await Promise.all(closing.map((pooled) => pooled.worker.terminate()));
}

/** An error as a worker posts it (FinetuneError keeps its code and hint). */
export interface WorkerError { readonly name: string; readonly code?: string; readonly message: string; readonly hint?: string }

export function toWorkerError(error: unknown): WorkerError {
  return isFinetuneError(error)
    ? { name: error.name, code: error.code, message: error.message, ...(error.hint === undefined ? {} : { hint: error.hint }) }
    : { name: error instanceof Error ? error.name : 'Error', message: error instanceof Error ? error.message : String(error) };
}

export function fromWorkerError({ code, message, hint, name }: WorkerError): Error {
  return code === undefined ? Object.assign(new Error(message), { name }) : new FinetuneError(code as FinetuneError['code'], message, hint);
}
