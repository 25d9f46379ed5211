/**
 * The session interface the rest of finetune sees, and the wrapper that adapts an onnxruntime (node or web)
 * InferenceSession to it: plain `{ type, dims, data }` tensors in and out, inputs checked before `run`, ORT's
 * errors wrapped with a description of the feeds. Type-only imports: this file loads no runtime.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { FinetuneError } from '../errors.js';

/** Element type → the array that holds it (ORT's own mapping, restricted to what finetune exchanges). */
export interface TensorDataMap {
  float32: Float32Array;
  float64: Float64Array;
  uint8: Uint8Array;
  int8: Int8Array;
  int32: Int32Array;
  int64: BigInt64Array;
  bool: Uint8Array;
  string: readonly string[];
}
export type TensorType = keyof TensorDataMap;

/** A CPU tensor as plain data: `data` is flat row-major with `dims.reduce(×)` elements. */
export type HostTensor = {
  [T in TensorType]: { readonly type: T; readonly dims: readonly number[]; readonly data: TensorDataMap[T] };
}[TensorType];

export interface FloatTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** A model input or output as the session reports it. Symbolic dims are strings (`'batch_size'`). */
export interface ValueInfo {
  readonly name: string;
  /** Element type, or null for non-tensor values (sequences, maps). */
  readonly type: string | null;
  readonly shape: ReadonlyArray<number | string>;
}

export interface RunOptions {
  /** Outputs to compute. @defaultValue every model output */
  readonly outputNames?: readonly string[];
  /**
   * On a session hosted on a worker thread (createSession `worker: true`), move the feeds' buffers to the worker
   * instead of copying them: a batch of 32 images at 224² is 19 MB, copied on both threads. The feeds' whole
   * ArrayBuffers are detached afterwards (length 0), so pass only data the caller no longer needs. No effect on a
   * session in this thread (nothing is copied there). @defaultValue `false`
   */
  readonly transferInputs?: boolean;
}

/** What the worker-hosted session's run takes besides feeds and fetches (session.ts). */
export interface HostedRunOptions {
  readonly transferInputs: boolean;
}

/** Which execution provider ran the model: onnxruntime-node's CUDA or CPU provider, or onnxruntime-web's wasm. */
export type SessionProvider = 'cuda' | 'cpu' | 'wasm';

/** Marks a session object whose run() takes {@link HostedRunOptions} as its third argument (session.ts). */
export const WORKER_HOSTED = Symbol('finetune.workerHosted');

export interface ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  /** The execution provider that actually runs this session. */
  readonly provider: SessionProvider;
  /** With `device: 'auto'`: why CUDA was not used although its libraries are installed; otherwise null. */
  readonly fallbackReason: string | null;
  /** Runs the model. Throws INFERENCE_FAILED, naming every feed's type and dims, when inputs are wrong or ORT fails. */
  run(feeds: Readonly<Record<string, HostTensor>>, options?: RunOptions): Promise<Record<string, HostTensor>>;
  /** Runs a model with one float32 input; every requested output must be float32. */
  runFloat(inputName: string, data: Float32Array, dims: readonly number[], options?: RunOptions):
    Promise<Record<string, FloatTensor>>;
  /** Frees the native session. Further runs throw. */
  release(): Promise<void>;
}

/** `BackboneSession` is the name the embedding stage uses; it is the same interface. */
export type BackboneSession = ModelSession;

/** The constructor surface shared by onnxruntime-node's and onnxruntime-web's Tensor. */
export interface TensorConstructor {
  new (type: TensorType, data: TensorDataMap[TensorType], dims: readonly number[]): Tensor;
}

const SUPPORTED_TYPES = new Set<string>(['float32', 'float64', 'uint8', 'int8', 'int32', 'int64', 'bool', 'string']);

const elementCount = (dims: readonly number[]): number => {
  let count = 1;
  for (let axis = 0; axis < dims.length; axis++) count *= dims[axis]!;
  return count;
};

const formatShape = (shape: ReadonlyArray<number | string>): string => `[${shape.join(', ')}]`;

/** `image: uint8[2, 224, 224, 3]; label: string[2]`: what a feed looked like, never its data. */
export function describeFeeds(feeds: Readonly<Record<string, { readonly type: string; readonly dims: readonly number[] }>>): string {
  return Object.entries(feeds).map(([name, tensor]) => `${name}: ${tensor.type}${formatShape(tensor.dims)}`).join('; ');
}

function toValueInfos(metadata: readonly InferenceSession.ValueMetadata[] | undefined, names: readonly string[]): ValueInfo[] {
  return names.map((name, index) => {
    const meta = metadata?.[index];
    if (meta === undefined || !meta.isTensor) return { name, type: null, shape: [] };
    return { name, type: meta.type, shape: meta.shape.map((dim) => (typeof dim === 'number' ? dim : String(dim))) };
  });
}

/** Checks feeds against the model's inputs; collects every problem and throws once. */
function checkFeeds(inputs: readonly ValueInfo[], feeds: Readonly<Record<string, HostTensor>>): void {
  const problems: string[] = [];
  const known = new Set(inputs.map((input) => input.name));
  for (const input of inputs) {
    const feed = feeds[input.name];
    if (feed === undefined) {
      problems.push(`input "${input.name}" (${input.type ?? 'non-tensor'}${formatShape(input.shape)}) is missing`);
      continue;
    }
    if (input.type !== null && feed.type !== input.type) {
      problems.push(`input "${input.name}" expects ${input.type}, got ${feed.type}`);
    }
    if (input.shape.length > 0) {
      const fixedMismatch = input.shape.length !== feed.dims.length
        || input.shape.some((dim, axis) => typeof dim === 'number' && dim > 0 && dim !== feed.dims[axis]);
      if (fixedMismatch) {
        problems.push(`input "${input.name}" expects shape ${formatShape(input.shape)}, got ${formatShape(feed.dims)}`);
      }
    }
  }
  for (const name of Object.keys(feeds)) {
    if (!known.has(name)) problems.push(`"${name}" is not a model input (inputs: ${[...known].join(', ')})`);
  }
  for (const [name, feed] of Object.entries(feeds)) {
    const count = elementCount(feed.dims);
    if (feed.data.length !== count) {
      problems.push(`"${name}" has ${feed.data.length} elements but dims ${formatShape(feed.dims)} need ${count}`);
    }
  }
  if (problems.length > 0) {
    throw new FinetuneError('INFERENCE_FAILED',
      `Model inputs do not match: ${problems.join('; ')}. Got {${describeFeeds(feeds)}}.`,
      'Compare with the inputs printed by `finetune inspect <model>`; the preprocessing spec must produce that shape.');
  }
}

class WrappedSession implements ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  #session: InferenceSession | null;
  readonly #Tensor: TensorConstructor;

  constructor(session: InferenceSession, TensorClass: TensorConstructor,
    readonly provider: SessionProvider, readonly fallbackReason: string | null) {
    this.#session = session;
    this.#Tensor = TensorClass;
    this.inputNames = [...session.inputNames];
    this.outputNames = [...session.outputNames];
    this.inputs = toValueInfos(session.inputMetadata, session.inputNames);
    this.outputs = toValueInfos(session.outputMetadata, session.outputNames);
  }

  async run(feeds: Readonly<Record<string, HostTensor>>, options: RunOptions = {}): Promise<Record<string, HostTensor>> {
    const session = this.#session;
    if (session === null) throw new Error('The session was released.');
    checkFeeds(this.inputs, feeds);
    const outputNames = options.outputNames ?? this.outputNames;
    const unknown = outputNames.filter((name) => !this.outputNames.includes(name));
    if (unknown.length > 0) {
      throw new FinetuneError('INFERENCE_FAILED', `Unknown model output(s) ${unknown.map((n) => `"${n}"`).join(', ')}.`,
        `The model's outputs are: ${this.outputNames.join(', ')}.`);
    }
    const ortFeeds: Record<string, Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) ortFeeds[name] = new this.#Tensor(feed.type, feed.data, feed.dims);
    let results: InferenceSession.ReturnType;
    try {
      results = await (options.transferInputs === true && WORKER_HOSTED in session
        ? (session.run as (feeds: unknown, fetches: string[], hosted: HostedRunOptions) => Promise<InferenceSession.ReturnType>)(
          ortFeeds, [...outputNames], { transferInputs: true })
        : session.run(ortFeeds, [...outputNames]));
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
      throw new FinetuneError('INFERENCE_FAILED',
        `ONNX Runtime (${this.provider}) failed on inputs {${describeFeeds(feeds)}}: ${reason}`,
        'Compare with the inputs printed by `finetune inspect <model>`; with --device cuda, retry with --device cpu.',
        { cause });
    }
    const out: Record<string, HostTensor> = {};
    for (const name of outputNames) {
      const tensor = results[name];
      if (tensor === undefined) throw new FinetuneError('INFERENCE_FAILED', `ONNX Runtime returned no "${name}" output.`);
      if (!SUPPORTED_TYPES.has(tensor.type)) {
        throw new FinetuneError('INFERENCE_FAILED', `Output "${name}" has element type ${tensor.type}, which finetune does not read.`,
          'Cast the output to float32 in the model.');
      }
      out[name] = { type: tensor.type, dims: [...tensor.dims], data: tensor.data } as HostTensor;
    }
    return out;
  }

  async runFloat(inputName: string, data: Float32Array, dims: readonly number[], options: RunOptions = {}):
    Promise<Record<string, FloatTensor>> {
    const outputs = await this.run({ [inputName]: { type: 'float32', dims, data } }, options);
    const out: Record<string, FloatTensor> = {};
    for (const [name, tensor] of Object.entries(outputs)) {
      if (tensor.type !== 'float32') {
        throw new FinetuneError('INFERENCE_FAILED', `Output "${name}" is ${tensor.type}, expected float32.`,
          'Use run() for models with non-float outputs, or pass outputNames to pick the float ones.');
      }
      out[name] = { dims: tensor.dims, data: tensor.data };
    }
    return out;
  }

  async release(): Promise<void> {
    const session = this.#session;
    this.#session = null;
    if (session !== null) await session.release();
  }
}

/** Adapts an onnxruntime InferenceSession (node or web) to {@link ModelSession}. */
export function wrapSession(session: InferenceSession, TensorClass: TensorConstructor,
  provider: SessionProvider, fallbackReason: string | null = null): ModelSession {
  return new WrappedSession(session, TensorClass, provider, fallbackReason);
}
