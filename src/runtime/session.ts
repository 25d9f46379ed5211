/**
 * onnxruntime-node sessions. This file, ort-worker.mjs and web-session.ts are the only places in src/ that load
 * an ONNX Runtime.
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import { FinetuneError } from '../errors.js';
import type { Device } from '../types.js';
import { cudaUnavailableError, executionProvidersFor, type ExecutionProvider } from './devices.js';
import { WORKER_HOSTED, wrapSession, type HostedRunOptions, type HostTensor, type ModelSession, type TensorConstructor, type TensorDataMap, type TensorType } from './model-session.js';

export interface SessionOptions {
  /** Where to run. `auto` uses CUDA when its libraries are installed and load, else the CPU. @defaultValue `'auto'` */
  readonly device?: Device;
  /** Threads used inside one operator. @defaultValue ORT's default (the number of physical cores) */
  readonly intraOpNumThreads?: number;
  /** Threads used to run independent operators in parallel. @defaultValue ORT's default */
  readonly interOpNumThreads?: number;
  /** @defaultValue `'all'` */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * ORT's own log level (0 verbose … 4 fatal). The library never prints: a failing node or initializer already
   * reaches the caller as our error, so the default hides ORT's error lines too. @defaultValue `4`
   */
  readonly logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * Skip prepacking weights into kernel-specific layouts. Prepacking speeds up many runs but costs a copy of the
   * weights and seconds at load: a 553 MB VGG16 loads in 0.4 s instead of 2 s, at a peak of 0.2 GB instead of 1 GB
   * (external data). Worth it for sessions that run a few images, such as export checks. @defaultValue `false`
   */
  readonly disablePrepacking?: boolean;
  /**
   * Let the intra-op threads spin while they wait for work: a little faster when ORT has the cores to itself,
   * but spinning threads take CPU from whatever else runs (image decoding). @defaultValue ORT's default (`true`)
   */
  readonly allowSpinning?: boolean;
  /**
   * Host the session on its own worker thread (ort-worker.mjs). onnxruntime-node runs a model synchronously on
   * the thread that calls `run`; with a worker, the calling thread stays free meanwhile (decoding, caching).
   * Inputs are copied to the worker; outputs come back without a copy. @defaultValue `false`
   */
  readonly worker?: boolean;
}

/**
 * ONNX Runtime has two loggers: each session's (its level is `logSeverityLevel`) and the process-wide default
 * logger, created with the first session at `env.logLevel` (onnxruntime-common's default: `'warning'`). The
 * default logger writes lines such as GPU device discovery warnings or a CUDA provider library that fails to
 * load straight to stderr, although we report the same failure through our own errors (or `fallbackReason`).
 * The library never prints, so it is set to `'fatal'` before the first session.
 */
function quietOrtDefaultLogger(ort: typeof Ort): void {
  if (ortEnvConfigured) return;
  ort.env.logLevel = 'fatal';
  ortEnvConfigured = true;
}
let ortEnvConfigured = false;

/** onnxruntime-node, imported by the first session (its native binding loads with it), never by importing finetune. */
const loadOnnxruntime = (): Promise<typeof Ort> => import('onnxruntime-node');

const describeModel = (model: Uint8Array | string): string =>
  typeof model === 'string' ? `"${model}"` : `a ${model.byteLength}-byte model`;

/** ORT's session config entries (`extra`, flattened by ORT into "session.…" keys), or nothing when none is set. */
function sessionExtra(options: SessionOptions): { extra?: { session: Record<string, unknown> } } {
  const session: Record<string, unknown> = {
    ...(options.disablePrepacking ? { disable_prepacking: '1' } : {}),
    ...(options.allowSpinning === undefined ? {} : { intra_op: { allow_spinning: options.allowSpinning ? '1' : '0' } }),
  };
  return Object.keys(session).length === 0 ? {} : { extra: { session } };
}

/** ORT's session options for one provider: plain data, so they can travel to a worker. */
function ortSessionOptions(provider: ExecutionProvider, options: SessionOptions): InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    logSeverityLevel: options.logSeverityLevel ?? 4,
    ...(options.intraOpNumThreads === undefined ? {} : { intraOpNumThreads: options.intraOpNumThreads }),
    ...(options.interOpNumThreads === undefined ? {} : { interOpNumThreads: options.interOpNumThreads }),
    ...sessionExtra(options),
  };
}

/** Opens `model` with one provider, on this thread or in the worker; throws ORT's error when it cannot. */
type OpenSession = (provider: ExecutionProvider, options: InferenceSession.SessionOptions) => Promise<InferenceSession>;

const openHere = (ort: typeof Ort, model: Uint8Array | string): OpenSession => (_provider, options) =>
  typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);

/** A tensor as plain data, so it can be posted to the worker (the worker builds the real ort.Tensor). */
class PlainTensor {
  constructor(readonly type: TensorType, readonly data: TensorDataMap[TensorType], readonly dims: readonly number[]) {}
}

type WorkerReply =
  | { readonly type: 'created'; readonly inputNames: string[]; readonly outputNames: string[];
      readonly inputMetadata: InferenceSession.ValueMetadata[]; readonly outputMetadata: InferenceSession.ValueMetadata[] }
  | { readonly type: 'result'; readonly id: number; readonly outputs: Record<string, HostTensor> }
  | { readonly type: 'failed'; readonly id?: number; readonly message: string };

/**
 * The part of an ort.InferenceSession that wrapSession uses, relayed to a session hosted by ort-worker.mjs.
 * Requests are answered in order; the worker keeps the process alive only while a request is pending.
 */
class WorkerHostedSession {
  readonly [WORKER_HOSTED] = true;
  inputNames: readonly string[] = [];
  outputNames: readonly string[] = [];
  inputMetadata: readonly InferenceSession.ValueMetadata[] = [];
  outputMetadata: readonly InferenceSession.ValueMetadata[] = [];
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void }>();
  #nextId = 0;
  #stopped: Error | null = null;
  readonly #exited: Promise<void>;

  constructor(model: Uint8Array | string) {
    // No execArgv: the worker is plain JavaScript and needs none of the parent's loaders (tsx) or flags.
    this.#worker = new Worker(new URL('./ort-worker.mjs', import.meta.url), { workerData: { model }, execArgv: [] });
    this.#worker.on('message', (reply: WorkerReply) => {
      const id = reply.type === 'created' || reply.id === undefined ? -1 : reply.id;
      const entry = this.#pending.get(id);
      this.#pending.delete(id);
      this.#updateRef();
      entry?.resolve(reply);
    });
    this.#worker.on('error', (error) => this.#stop(error));
    this.#exited = new Promise((resolve) => this.#worker.once('exit', (code) => {
      this.#stop(new Error(`The ONNX Runtime worker thread stopped (exit code ${code}).`));
      resolve();
    }));
  }

  #stop(error: Error): void {
    this.#stopped ??= error;
    for (const entry of this.#pending.values()) entry.reject(this.#stopped);
    this.#pending.clear();
  }

  #updateRef(): void {
    if (this.#pending.size > 0) this.#worker.ref();
    else this.#worker.unref();
  }

  /** Sends a request and waits for its reply (`id` −1: the one create/release in flight). */
  #request(id: number, message: object, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.#stopped !== null) return Promise.reject(this.#stopped);
    const reply = new Promise<WorkerReply>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#worker.postMessage(message, transfer);
    this.#updateRef();
    return reply;
  }

  async open(options: InferenceSession.SessionOptions): Promise<InferenceSession> {
    const reply = await this.#request(-1, { type: 'create', options });
    if (reply.type === 'failed') throw new Error(reply.message);
    if (reply.type !== 'created') throw new Error(`ort-worker: unexpected reply ${reply.type} to create`);
    ({ inputNames: this.inputNames, outputNames: this.outputNames, inputMetadata: this.inputMetadata, outputMetadata: this.outputMetadata } = reply);
    return this as unknown as InferenceSession;   // the members wrapSession reads, with plain tensors
  }

  async run(feeds: Record<string, PlainTensor>, fetches: readonly string[], hosted?: HostedRunOptions): Promise<Record<string, HostTensor>> {
    const id = this.#nextId++;
    const transfer = hosted?.transferInputs === true
      ? [...new Set(Object.values(feeds).flatMap((feed) => (ArrayBuffer.isView(feed.data) && feed.data.buffer instanceof ArrayBuffer ? [feed.data.buffer] : [])))] : [];
    const reply = await this.#request(id, { type: 'run', id, feeds: { ...feeds }, fetches }, transfer);
    if (reply.type === 'failed') throw new Error(reply.message);
    if (reply.type !== 'result') throw new Error(`ort-worker: unexpected reply ${reply.type} to run`);
    return reply.outputs;
  }

  async release(): Promise<void> {
    if (this.#stopped === null) this.#worker.postMessage({ type: 'release' });
    this.#worker.ref();
    const timeout = setTimeout(() => void this.#worker.terminate(), 10_000);
    await this.#exited;
    clearTimeout(timeout);
  }
}

/**
 * Loads a model into onnxruntime-node. `device: 'auto'` tries CUDA when its libraries are installed and
 * falls back to the CPU (the reason is kept in `fallbackReason`); `device: 'cuda'` never falls back.
 * `session.provider` says which provider runs the model.
 */
export async function createSession(model: Uint8Array | string, options: SessionOptions = {}): Promise<ModelSession> {
  const device = options.device ?? 'auto';
  for (const [name, value] of [['intraOpNumThreads', options.intraOpNumThreads], ['interOpNumThreads', options.interOpNumThreads]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      throw new RangeError(`createSession: '${name}' must be a non-negative integer, got ${value}.`);
    }
  }
  if (typeof model === 'string' && !existsSync(model)) {
    throw new FinetuneError('FILE_NOT_FOUND', `Model file "${model}" does not exist.`,
      'Check the path, or run `finetune models list` to see the zoo ids.');
  }
  const providers = executionProvidersFor(device);   // throws for `cuda` without its libraries
  const ort = await loadOnnxruntime();
  quietOrtDefaultLogger(ort);
  const host = options.worker === true ? new WorkerHostedSession(model) : null;
  const open: OpenSession = host === null ? openHere(ort, model) : (_provider, sessionOptions) => host.open(sessionOptions);
  const Tensor = (host === null ? ort.Tensor : PlainTensor) as unknown as TensorConstructor;
  let fallbackReason: string | null = null;
  for (const provider of providers) {
    try {
      const session = await open(provider, ortSessionOptions(provider, options));
      return wrapSession(session, Tensor, provider, fallbackReason);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message.split('\n')[0]! : String(cause);
      if (provider === 'cuda' && device !== 'cuda') {
        fallbackReason = `the CUDA provider failed to start: ${reason}`;
        continue;
      }
      await host?.release();
      if (provider === 'cuda') throw cudaUnavailableError(`ONNX Runtime could not start it (${reason})`, cause);
      throw new FinetuneError('MODEL_INVALID', `ONNX Runtime could not load ${describeModel(model)}: ${reason}`,
        'Check that the file is a complete .onnx model (`finetune inspect <model>`); re-download it if it was truncated.',
        { cause });
    }
  }
  /* c8 ignore next */
  throw new Error('unreachable: the CPU provider is always tried last');
}
