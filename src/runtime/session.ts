/**
 * onnxruntime-node sessions. This file and web-session.ts are the only places in src/ that load an ONNX Runtime.
 */
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { FinetuneError } from '../errors.js';
import type { Device } from '../types.js';
import { cudaUnavailableError, executionProvidersFor, type ExecutionProvider } from './devices.js';
import { wrapSession, type ModelSession, type TensorConstructor } from './model-session.js';

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
}

/**
 * ONNX Runtime has two loggers: each session's (its level is `logSeverityLevel`) and the process-wide default
 * logger, created with the first session at `env.logLevel` (onnxruntime-common's default: `'warning'`). The
 * default logger writes lines such as GPU device discovery warnings or a CUDA provider library that fails to
 * load straight to stderr, although we report the same failure through our own errors (or `fallbackReason`).
 * The library never prints, so it is set to `'fatal'` before the first session.
 */
function quietOrtDefaultLogger(): void {
  if (ortEnvConfigured) return;
  ort.env.logLevel = 'fatal';
  ortEnvConfigured = true;
}
let ortEnvConfigured = false;

const describeModel = (model: Uint8Array | string): string =>
  typeof model === 'string' ? `"${model}"` : `a ${model.byteLength}-byte model`;

async function createOrtSession(model: Uint8Array | string, provider: ExecutionProvider,
  options: SessionOptions): Promise<ort.InferenceSession> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    logSeverityLevel: options.logSeverityLevel ?? 4,
    ...(options.intraOpNumThreads === undefined ? {} : { intraOpNumThreads: options.intraOpNumThreads }),
    ...(options.interOpNumThreads === undefined ? {} : { interOpNumThreads: options.interOpNumThreads }),
    ...(options.disablePrepacking ? { extra: { session: { disable_prepacking: '1' } } } : {}),
  };
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, sessionOptions)
    : ort.InferenceSession.create(model, sessionOptions);
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
  quietOrtDefaultLogger();
  let fallbackReason: string | null = null;
  for (const provider of providers) {
    try {
      const session = await createOrtSession(model, provider, options);
      return wrapSession(session, ort.Tensor as unknown as TensorConstructor, provider, fallbackReason);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message.split('\n')[0]! : String(cause);
      if (provider === 'cuda') {
        if (device === 'cuda') throw cudaUnavailableError(`ONNX Runtime could not start it (${reason})`, cause);
        fallbackReason = `the CUDA provider failed to start: ${reason}`;
        continue;
      }
      throw new FinetuneError('MODEL_INVALID', `ONNX Runtime could not load ${describeModel(model)}: ${reason}`,
        'Check that the file is a complete .onnx model (`finetune inspect <model>`); re-download it if it was truncated.',
        { cause });
    }
  }
  /* c8 ignore next */
  throw new Error('unreachable: the CPU provider is always tried last');
}
