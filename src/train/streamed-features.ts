/**
 * Out-of-core training data: rows of a FeatureFile read a window at a time, with labels in memory.
 *
 * Shuffling is bounded to a window: the file is cut into blocks of `blockRows` consecutive rows; each epoch the
 * block order is shuffled, consecutive blocks are read into a window of at most `windowRows` rows, and the rows
 * of a window are shuffled. A mini-batch therefore mixes rows of ⌈windowRows / blockRows⌉ blocks drawn from all
 * over the file, not of the whole file: on a file whose rows are grouped by class (a cache export of class
 * folders), a window still holds many classes as long as it spans many blocks, so keep blocks small next to the
 * window (the defaults: 1,024-row blocks, windows of half the memory budget). While one window trains, the next
 * is read (two window buffers: the memory used is about `memoryBudgetBytes` whatever the file size).
 *
 * Standardization statistics and the non-finite check come from one streaming pass over the rows (per-window
 * float64 mean and squared deviations, merged with Chan et al.'s pairwise formula).
 */
import { FinetuneError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type { FeatureFile } from './feature-file.js';
import { isStreamed, type LabelledFeatures, type StreamedFeatures, type TrainingData } from './training-data.js';
import type { Standardization } from './standardization.js';
import { copyRows } from '../util/copy-rows.js';

/** A split over all rows (`rows` omitted) or the given rows of a file, with `labels` for every row of the file. */
export function streamedFeatures(file: FeatureFile, fileLabels: Int32Array, rows: Int32Array | null = null): StreamedFeatures {
  if (fileLabels.length !== file.numRows)
    throw new FinetuneError('DATASET_INVALID', `"${file.path}" has ${file.numRows} rows but ${fileLabels.length} labels.`,
      'Pass the labels.npy written with these features.');
  if (rows === null) return { file, rows: null, labels: fileLabels, numSamples: file.numRows, embeddingDim: file.embeddingDim };
  for (let i = 0; i < rows.length; i++)
    if (!(rows[i]! >= 0 && rows[i]! < file.numRows && (i === 0 || rows[i]! > rows[i - 1]!)))
      throw new RangeError(`streamedFeatures: rows must be ascending indices in [0, ${file.numRows}); entry ${i} is ${rows[i]}.`);
  return { file, rows, labels: Int32Array.from(rows, (row) => fileLabels[row]!), numSamples: rows.length, embeddingDim: file.embeddingDim };
}

/**
 * The rows `indices` (positions within `data`, e.g. a cross-validation fold) of either kind of data: a copy for
 * data in memory, a narrower row list over the same file for streamed data.
 */
export function selectRows<T extends TrainingData>(data: T, indices: Int32Array): T {
  const sorted = Int32Array.from(indices).sort();
  for (let i = 0; i < sorted.length; i++)
    if (!(sorted[i]! >= 0 && sorted[i]! < data.numSamples) || (i > 0 && sorted[i] === sorted[i - 1]))
      throw new RangeError(`selectRows: indices must be distinct positions in [0, ${data.numSamples}).`);
  if (isStreamed(data)) {
    const rows = data.rows === null ? sorted : Int32Array.from(sorted, (index) => data.rows![index]!);
    return { ...data, rows, labels: Int32Array.from(sorted, (index) => data.labels[index]!), numSamples: sorted.length } as T;
  }
  const { embeddingDim } = data;
  return { features: copyRows(data.features, embeddingDim, sorted), labels: Int32Array.from(sorted, (index) => data.labels[index]!),
    numSamples: sorted.length, embeddingDim } as unknown as T;
}

export interface WindowOptions {
  /** Rows per block, the unit of reading and of the block shuffle. @defaultValue `1024` */
  readonly blockRows?: number;
  /** Bytes for the two window buffers together. @defaultValue `512 MiB` */
  readonly memoryBudgetBytes?: number;
}

/** The two window buffers out-of-core training reads into; shared by the readers of one fit (never used at once). */
export interface WindowBuffers {
  readonly blockRows: number;
  /** File rows a window holds. */
  readonly windowFileRows: number;
  readonly buffers: readonly [Float32Array, Float32Array];
}

/** Window buffers for rows of `embeddingDim` floats within `memoryBudgetBytes` (at least two blocks). */
export function createWindowBuffers(embeddingDim: number, maxFileRows: number, options: WindowOptions = {}): WindowBuffers {
  const blockRows = options.blockRows ?? 1024;
  const budget = options.memoryBudgetBytes ?? 512 * 2 ** 20;
  const rowBytes = embeddingDim * 4;
  if (!(Number.isInteger(blockRows) && blockRows >= 1)) throw new RangeError(`createWindowBuffers: blockRows must be a positive integer, got ${blockRows}.`);
  if (!(budget >= 2 * blockRows * rowBytes))
    throw new FinetuneError('INVALID_OPTION', `A memory budget of ${budget} bytes cannot hold two blocks of ${blockRows} rows × ${embeddingDim} floats.`,
      `Raise --max-memory to at least ${Math.ceil((2 * blockRows * rowBytes) / 2 ** 20)} MiB.`);
  const windowBlocks = Math.floor(budget / 2 / rowBytes / blockRows);
  const windowFileRows = Math.min(windowBlocks * blockRows, Math.ceil(Math.max(1, maxFileRows) / blockRows) * blockRows);
  return { blockRows, windowFileRows, buffers: [new Float32Array(windowFileRows * embeddingDim), new Float32Array(windowFileRows * embeddingDim)] };
}

/** One window: its rows in memory (valid until the next-but-one window is requested) and their order. */
export interface DataWindow {
  readonly data: LabelledFeatures;
  /** Positions in `data` to visit, shuffled when the epoch is. */
  readonly order: Int32Array | null;
}

interface Block { readonly firstRow: number; readonly fileRows: number; readonly selected: Int32Array | null; readonly count: number }

/** Plans the blocks of a split: file row ranges and, for a subset, which of their rows belong to the split. */
function planBlocks(data: StreamedFeatures, blockRows: number): Block[] {
  const blocks: Block[] = [];
  const { rows, file } = data;
  if (rows === null) {
    for (let firstRow = 0; firstRow < file.numRows; firstRow += blockRows) {
      const fileRows = Math.min(blockRows, file.numRows - firstRow);
      blocks.push({ firstRow, fileRows, selected: null, count: fileRows });
    }
    return blocks;
  }
  for (let i = 0; i < rows.length;) {
    const block = Math.floor(rows[i]! / blockRows), firstRow = block * blockRows;
    const fileRows = Math.min(blockRows, file.numRows - firstRow);
    let end = i;
    while (end < rows.length && rows[end]! < firstRow + fileRows) end++;
    blocks.push({ firstRow, fileRows, selected: Int32Array.from(rows.subarray(i, end), (row) => row - firstRow), count: end - i });
    i = end;
  }
  return blocks;
}

/**
 * Reads `data` window by window. With `shuffle`, the block order and the rows within each window are shuffled
 * (from that PRNG, so a seed fixes the epoch); without, rows come in file order. The next window is read while
 * the caller works on the current one.
 */
export class WindowReader {
  private readonly blocks: Block[];
  /** Position in the split of each block's first row, so labels can be looked up. */
  private readonly blockStart: Int32Array;
  private readonly windowFileRows: number;
  private readonly buffers: readonly [Float32Array, Float32Array];

  constructor(private readonly data: StreamedFeatures, buffers: WindowBuffers) {
    if (buffers.buffers[0].length < buffers.windowFileRows * data.embeddingDim)
      throw new RangeError('WindowReader: the window buffers were made for narrower rows.');
    this.blocks = planBlocks(data, buffers.blockRows);
    this.windowFileRows = buffers.windowFileRows;
    this.buffers = buffers.buffers;
    this.blockStart = new Int32Array(this.blocks.length);
    let position = 0;
    this.blocks.forEach((block, index) => { this.blockStart[index] = position; position += block.count; });
  }

  /** The block order of an epoch grouped into windows of at most `windowFileRows` file rows. */
  private planWindows(shuffle: Rng | null): number[][] {
    const order = Array.from(this.blocks, (_, index) => index);
    if (shuffle !== null) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = shuffle.nextInt(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    const windows: number[][] = [];
    let current: number[] = [], fileRows = 0;
    for (const index of order) {
      const block = this.blocks[index]!;
      if (current.length > 0 && fileRows + block.fileRows > this.windowFileRows) { windows.push(current); current = []; fileRows = 0; }
      current.push(index);
      fileRows += block.fileRows;
    }
    if (current.length > 0) windows.push(current);
    return windows;
  }

  /** Reads the blocks into `buffer`, keeping only the split's rows, compacted; returns the window's labels. */
  private async readWindow(blockIndices: readonly number[], buffer: Float32Array): Promise<LabelledFeatures> {
    const dim = this.data.embeddingDim;
    let fileRow = 0;
    await Promise.all(blockIndices.map((index) => {
      const block = this.blocks[index]!, at = fileRow;
      fileRow += block.fileRows;
      return this.data.file.read(block.firstRow, block.fileRows, buffer.subarray(at * dim, (at + block.fileRows) * dim));
    }));
    let kept = 0, read = 0;
    const count = blockIndices.reduce((sum, index) => sum + this.blocks[index]!.count, 0);
    const labels = new Int32Array(count);
    for (const index of blockIndices) {
      const block = this.blocks[index]!, start = this.blockStart[index]!;
      for (let i = 0; i < block.count; i++) {
        const row = read + (block.selected === null ? i : block.selected[i]!);
        if (row !== kept) buffer.copyWithin(kept * dim, row * dim, (row + 1) * dim);
        labels[kept++] = this.data.labels[start + i]!;
      }
      read += block.fileRows;
    }
    return { features: buffer.subarray(0, count * dim), labels, numSamples: count, embeddingDim: dim };
  }

  /** Number of windows an epoch has (the same for every epoch). */
  get windowCount(): number {
    return this.planWindows(null).length;
  }

  /**
   * The windows of one epoch. A window's rows stay valid until the window after the next one is requested.
   * Mini-batch steps in the epoch: Σ ⌈window rows / batchSize⌉ over the windows.
   */
  async *windows(shuffle: Rng | null): AsyncGenerator<DataWindow> {
    const plan = this.planWindows(shuffle);
    let pending = plan.length > 0 ? this.readWindow(plan[0]!, this.buffers[0]) : null;
    for (let w = 0; w < plan.length; w++) {
      const data = await pending!;
      pending = w + 1 < plan.length ? this.readWindow(plan[w + 1]!, this.buffers[(w + 1) % 2]!) : null;
      let order: Int32Array | null = null;
      if (shuffle !== null) {
        order = Int32Array.from({ length: data.numSamples }, (_, i) => i);
        shuffle.shuffle(order);
      }
      yield { data, order };
    }
  }
}

/**
 * One pass over a streamed split: standardization statistics (population std, a constant feature gets 1, as
 * `fitStandardization` does) and the non-finite check (throws NonFiniteFeaturesError-style DATASET_INVALID).
 */
export async function scanStreamed(data: StreamedFeatures, split: 'training' | 'validation', buffers: WindowBuffers,
  onWindow?: (rowsDone: number) => void): Promise<Standardization> {
  const dim = data.embeddingDim;
  const mean = new Float64Array(dim), m2 = new Float64Array(dim);
  const windowMean = new Float64Array(dim), windowM2 = new Float64Array(dim);
  let count = 0, position = 0;
  const reader = new WindowReader(data, buffers);
  for await (const { data: window } of reader.windows(null)) {
    const { features, numSamples } = window;
    windowMean.fill(0);
    windowM2.fill(0);
    for (let row = 0; row < numSamples; row++) {
      const offset = row * dim;
      for (let feature = 0; feature < dim; feature++) windowMean[feature]! += features[offset + feature]!;
    }
    for (let feature = 0; feature < dim; feature++) windowMean[feature]! /= numSamples;
    for (let row = 0; row < numSamples; row++) {
      const offset = row * dim;
      for (let feature = 0; feature < dim; feature++) {
        const centered = features[offset + feature]! - windowMean[feature]!;
        windowM2[feature]! += centered * centered;
      }
    }
    let bad = -1;
    for (let feature = 0; feature < dim && bad < 0; feature++) if (!Number.isFinite(windowM2[feature]!)) bad = feature;
    if (bad >= 0) {
      for (let row = 0; row < numSamples; row++)
        for (let feature = 0; feature < dim; feature++)
          if (!Number.isFinite(features[row * dim + feature]!)) {
            const fileRow = data.rows === null ? position + row : data.rows[position + row]!;
            throw new FinetuneError('DATASET_INVALID',
              `The ${split} features hold a non-finite value (${features[row * dim + feature]}) at row ${fileRow} of "${data.file.path}", feature ${feature}.`,
              'The backbone produced NaN/Infinity for that image: check the model and its preprocessing (`finetune inspect`), then export the features again.');
          }
    }
    // Chan et al.: merge (count, mean, m2) with the window's (numSamples, windowMean, windowM2).
    const total = count + numSamples;
    if (count === 0) { mean.set(windowMean); m2.set(windowM2); }   // the first window as is (one window = the two-pass result)
    else for (let feature = 0; feature < dim; feature++) {
      const delta = windowMean[feature]! - mean[feature]!;
      mean[feature]! += (delta * numSamples) / total;
      m2[feature]! += windowM2[feature]! + (delta * delta * count * numSamples) / total;
    }
    count = total;
    position += numSamples;
    onWindow?.(position);
  }
  const result = { mean: new Float32Array(dim), std: new Float32Array(dim) };
  for (let feature = 0; feature < dim; feature++) {
    result.mean[feature] = mean[feature]!;
    const deviation = Math.sqrt(m2[feature]! / Math.max(1, count));
    result.std[feature] = deviation > 1e-12 && Number.isFinite(deviation) ? deviation : 1;
  }
  return result;
}
