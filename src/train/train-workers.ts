/**
 * Worker threads that train on shared features: the sweep's configs and cross-fitting's folds. How to start one
 * (from the sources or the compiled package), the features shared instead of copied, and errors across the thread
 * boundary.
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
  const file = new URL(fromSources ? './sweep-worker-bootstrap.mjs' : `./${name}.js`, import.meta.url);
  return new Worker(file, { workerData: { ...workerData, entry }, execArgv: workerExecArgv() });
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
