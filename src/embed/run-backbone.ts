/** The inference step of an extraction: a batch tensor → one feature row per image, through a backbone session. */
import { FinetuneError } from '../errors.js';
import type { ModelSession } from '../runtime/model-session.js';
import type { PreprocessSpec } from '../types.js';

/** What runBackbone needs to know about the cut backbone. */
export interface BackboneIo {
  readonly inputName: string;
  /** Output holding the features. @defaultValue the session's first output */
  readonly outputName?: string;
  readonly embeddingDim: number;
  readonly preprocess: PreprocessSpec;
}

/** Images per onnxruntime run on the CPU provider when the run shares the main thread (see runBackbone). */
const CPU_ROWS_PER_RUN = 8;

export interface RunBackboneOptions {
  /**
   * Images per `session.run` (a model with a fixed batch dimension always gets that). @defaultValue `8` on the
   * CPU provider (when the run shares the main thread with decoding), else every row at once
   */
  readonly rowsPerRun?: number;
  /**
   * `tensor` is not needed after this call: its last run may move its buffer to a worker-hosted session instead of
   * copying it (RunOptions.transferInputs; the buffer is detached afterwards). @defaultValue `false`
   */
  readonly transferInput?: boolean;
}

/** Rows of a [n × embeddingDim] matrix holding a NaN or ±Infinity, ascending. */
export function nonFiniteRows(features: Float32Array, embeddingDim: number): number[] {
  const rows: number[] = [];
  for (let row = 0, offset = 0; offset < features.length; row++, offset += embeddingDim) {
    let sum = 0;
    for (let feature = 0; feature < embeddingDim; feature++) sum += features[offset + feature]! * 0;
    if (sum !== 0) rows.push(row);   // x · 0 is 0 for every finite x, NaN for NaN and ±Infinity
  }
  return rows;
}

/** Input dims for `rows` images laid out per the spec. */
export function inputDims(spec: PreprocessSpec, rows: number): number[] {
  return spec.layout === 'NCHW' ? [rows, 3, spec.cropSize, spec.cropSize] : [rows, spec.cropSize, spec.cropSize, 3];
}

/**
 * Runs `rows` preprocessed images through the backbone and returns [rows × embeddingDim] features.
 * A model with a fixed batch dimension (e.g. 1) is run in slices of that size, the last one zero-padded.
 */
export async function runBackbone(session: ModelSession, io: BackboneIo, tensor: Float32Array, rows: number,
  options: RunBackboneOptions = {}): Promise<Float32Array> {
  const { embeddingDim, inputName } = io;
  const imageSize = 3 * io.preprocess.cropSize * io.preprocess.cropSize;
  const outputName = io.outputName ?? session.outputNames[0];
  if (outputName === undefined) throw new FinetuneError('MODEL_INVALID', 'The cut backbone has no outputs.');
  const declared = session.inputs.find((input) => input.name === inputName)?.shape[0];
  const fixedBatch = typeof declared === 'number' && declared > 0 ? declared : null;
  // onnxruntime-node runs a session synchronously on the calling thread. On the main thread, sharp needs turns
  // between its steps (metadata → resize → buffer), so one long run would stall the decoding of the next batches:
  // runs of a few images cost the same per image and give decoding a turn between them. A worker thread (see
  // backbone-worker.ts) passes rowsPerRun = rows.
  const step = fixedBatch ?? Math.max(1, Math.min(rows, options.rowsPerRun ?? (session.provider === 'cpu' ? CPU_ROWS_PER_RUN : rows)));
  const features = new Float32Array(rows * embeddingDim);
  for (let start = 0; start < rows; start += step) {
    const count = Math.min(step, rows - start);
    let input = tensor.subarray(start * imageSize, (start + count) * imageSize);
    if (fixedBatch !== null && count < fixedBatch) {
      const padded = new Float32Array(fixedBatch * imageSize);
      padded.set(input);
      input = padded;
    }
    const runRows = fixedBatch ?? count;
    // The last run may take the buffer (nothing reads it afterwards); a zero-padded copy is never read again either.
    const transferInputs = options.transferInput === true && (start + count >= rows || input.buffer !== tensor.buffer);
    const outputs = await session.runFloat(inputName, input, inputDims(io.preprocess, runRows), { outputNames: [outputName], transferInputs });
    const output = outputs[outputName]!;
    if (output.data.length !== runRows * embeddingDim) {
      throw new FinetuneError('INFERENCE_FAILED',
        `Backbone output "${outputName}" has dims [${output.dims.join(', ')}], expected ${runRows} × ${embeddingDim} values (embeddingDim ${embeddingDim}).`,
        'The cut tensor is not a feature vector per image; cut at another layer or add pooling (--layer, --pooling).');
    }
    features.set(output.data.subarray(0, count * embeddingDim), start * embeddingDim);
  }
  return features;
}
