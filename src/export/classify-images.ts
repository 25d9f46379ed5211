import { FinetuneError } from '../errors.js';
import type { HostTensor, ModelSession } from '../runtime/model-session.js';
import { argmaxRow } from '../train/metrics.js';
import { batchSizeFor, loadImageBatch } from './image-batch.js';
import type { FailedImage } from '../types.js';
import { EXPORT_NAMES } from './exported-model-format.js';
import type { ExportedModelInfo } from './exported-model-format.js';

export interface ClassifyImagesOptions {
  /** Images per run when the model's batch is symbolic. @defaultValue `16` */
  batchSize?: number;
  /** Throw on the first image that cannot be decoded instead of listing it. @defaultValue `false` */
  failFast?: boolean;
  /** Further float32 outputs to collect (e.g. intermediate tensors exposed for the parity check). @defaultValue `[]` */
  extraOutputs?: readonly string[];
  /**
   * Test-time augmentation: `flip` averages the probabilities of each image and its mirror image (the `label`
   * output then follows the averaged argmax). @defaultValue `'none'`
   */
  tta?: 'none' | 'flip';
  /** Called after each batch with the number of images done (decoded or failed) so far. */
  onBatch?: (done: number, total: number) => void;
}

export interface ClassifiedImages {
  /** Images that were classified, in input order. */
  readonly paths: readonly string[];
  /** [paths.length × numClasses] row-major, from the model's `probabilities` output. */
  readonly probabilities: Float32Array;
  /** The model's `label` output per image (the top-1 class name), when the model has it. */
  readonly labels: readonly string[] | null;
  /** The model's `labels` output (all class names), when it has it. */
  readonly classNamesOutput: readonly string[] | null;
  readonly failed: readonly FailedImage[];
  /** The `extraOutputs`, each the rows of the classified images concatenated (row-major). */
  readonly extra: Readonly<Record<string, Float32Array>>;
}

/**
 * Runs an exported model over image files in batches. A model with a fixed batch dimension gets batches of
 * exactly that size (the last one padded with zeros, whose rows are dropped).
 */
export async function classifyImages(session: ModelSession, info: ExportedModelInfo, paths: readonly string[],
  options: ClassifyImagesOptions = {}): Promise<ClassifiedImages> {
  const numClasses = info.classNames.length;
  const fixedBatch = typeof info.inputShape[0] === 'number' && info.inputShape[0] > 0;
  const batchSize = batchSizeFor(info, options.batchSize ?? 16);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`classifyImages: 'batchSize' must be a positive integer, got ${batchSize}.`);
  const outputNames = [EXPORT_NAMES.probabilities, EXPORT_NAMES.label, EXPORT_NAMES.labels]
    .filter((name) => session.outputNames.includes(name));
  const extraNames = options.extraOutputs ?? [];
  const extraChunks = new Map<string, Float32Array[]>(extraNames.map((name) => [name, []]));
  const done: string[] = [];
  const failed: FailedImage[] = [];
  const probabilityChunks: Float32Array[] = [];
  let labels: string[] | null = outputNames.includes(EXPORT_NAMES.label) ? [] : null;
  let classNamesOutput: string[] | null = null;
  for (let start = 0; start < paths.length; start += batchSize) {
    const batch = await loadImageBatch(info, paths.slice(start, start + batchSize), { failFast: options.failFast ?? false });
    failed.push(...batch.failed.map((failure) => ({ ...failure, index: start + failure.index })));
    const n = batch.paths.length;
    if (n > 0) {
      const feed = fixedBatch && n < batchSize ? padBatch(batch.tensor, batchSize) : batch.tensor;
      const outputs = await session.run({ [info.inputName]: feed }, { outputNames: [...outputNames, ...extraNames] });
      for (const name of extraNames) {
        const tensor = outputs[name];
        if (tensor?.type !== 'float32') throw new FinetuneError('INFERENCE_FAILED', `Output "${name}" is ${tensor?.type ?? 'missing'}, expected float32.`);
        extraChunks.get(name)!.push(tensor.data.slice(0, (tensor.data.length / (tensor.dims[0] ?? 1)) * n));
      }
      const probabilities = outputs[EXPORT_NAMES.probabilities];
      if (probabilities?.type !== 'float32' || probabilities.data.length < n * numClasses) {
        throw new FinetuneError('INFERENCE_FAILED',
          `The model's "${EXPORT_NAMES.probabilities}" output is ${probabilities?.type ?? 'missing'}[${probabilities?.dims.join(', ') ?? ''}], ` +
          `expected float32[${n}, ${numClasses}].`,
          'The class-name metadata does not match the graph; re-export the model.');
      }
      const batchProbabilities = probabilities.data.slice(0, n * numClasses);
      const label = outputs[EXPORT_NAMES.label];
      if (options.tta === 'flip') {
        const mirrored = await loadImageBatch(info, batch.paths, { failFast: true, flip: true });
        const mirroredFeed = fixedBatch && n < batchSize ? padBatch(mirrored.tensor, batchSize) : mirrored.tensor;
        const flippedOutputs = await session.run({ [info.inputName]: mirroredFeed }, { outputNames: [EXPORT_NAMES.probabilities] });
        const flipped = flippedOutputs[EXPORT_NAMES.probabilities];
        if (flipped?.type !== 'float32') throw new FinetuneError('INFERENCE_FAILED', 'The flipped run returned no float32 probabilities.');
        for (let i = 0; i < n * numClasses; i++) batchProbabilities[i] = (batchProbabilities[i]! + flipped.data[i]!) / 2;
        if (labels !== null) {
          const names = info.classNames;
          for (let row = 0; row < n; row++) labels.push(names[argmaxRow(batchProbabilities, row, numClasses)]!);
        }
      } else if (labels !== null) labels = label?.type === 'string' ? [...labels, ...label.data.slice(0, n)] : null;
      probabilityChunks.push(batchProbabilities);
      const names = outputs[EXPORT_NAMES.labels];
      if (classNamesOutput === null && names?.type === 'string') classNamesOutput = [...names.data];
      done.push(...batch.paths);
    }
    options.onBatch?.(Math.min(start + batchSize, paths.length), paths.length);
  }
  const extra: Record<string, Float32Array> = {};
  for (const [name, chunks] of extraChunks) extra[name] = concat(chunks);
  return { paths: done, probabilities: concat(probabilityChunks), labels, classNamesOutput, failed, extra };
}

function concat(chunks: readonly Float32Array[]): Float32Array {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Float32Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function padBatch(tensor: HostTensor, batchSize: number): HostTensor {
  const perImage = tensor.data.length / (tensor.dims[0] ?? 1);
  const dims = [batchSize, ...tensor.dims.slice(1)];
  if (tensor.type === 'uint8') {
    const data = new Uint8Array(batchSize * perImage);
    data.set(tensor.data);
    return { type: 'uint8', dims, data };
  }
  if (tensor.type === 'float32') {
    const data = new Float32Array(batchSize * perImage);
    data.set(tensor.data);
    return { type: 'float32', dims, data };
  }
  throw new TypeError(`padBatch: unexpected input type ${tensor.type}.`);
}
