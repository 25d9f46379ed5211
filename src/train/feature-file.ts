/**
 * Features on disk for out-of-core training: a float32 C-order .npy matrix [numRows × embeddingDim] (what
 * `finetune cache export` writes as features.npy, or NumPy's `np.save`), read a block of rows at a time, and
 * its labels (.npy int32 [numRows]). The writer appends rows in order and renames the file into place when all
 * are written, so a crash never leaves a short file under the final name.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FinetuneError } from '../errors.js';
import { decodeNpyHeader, encodeNpyHeader } from '../util/npy.js';

const HEADER_PROBE_BYTES = 65536;

/** A .npy feature matrix opened for reading rows. Close it when done. */
export interface FeatureFile {
  readonly path: string;
  readonly numRows: number;
  readonly embeddingDim: number;
  /** Reads rows [start, start + count) into `out` (at least count × embeddingDim values). */
  read(start: number, count: number, out: Float32Array): Promise<void>;
  close(): Promise<void>;
}

async function readHeader(handle: FileHandle, path: string): Promise<{ descr: string; shape: readonly number[]; dataOffset: number; sizeBytes: number }> {
  const { size } = await handle.stat();
  const probe = new Uint8Array(Math.min(HEADER_PROBE_BYTES, size));
  await handle.read(probe, 0, probe.length, 0);
  try {
    const header = decodeNpyHeader(probe);
    if (header.fortranOrder) throw new RangeError('the array is in Fortran order; save it in C order (np.ascontiguousarray)');
    return { ...header, sizeBytes: size };
  } catch (cause) {
    throw new FinetuneError('DATASET_INVALID', `"${path}" is not a readable .npy array: ${(cause as Error).message}.`,
      'Write features with `finetune cache export` or np.save(path, features.astype(np.float32)).', { cause });
  }
}

function checkSize(path: string, sizeBytes: number, dataOffset: number, values: number): void {
  if (sizeBytes < dataOffset + values * 4)
    throw new FinetuneError('DATASET_INVALID', `"${path}" holds ${sizeBytes - dataOffset} data bytes, its header promises ${values * 4}.`,
      'The file is truncated; export it again.');
}

/** Opens a float32 [numRows × embeddingDim] .npy file for reading blocks of rows. */
export async function openFeatureFile(path: string): Promise<FeatureFile> {
  const handle = await open(path, 'r');
  try {
    const { descr, shape, dataOffset, sizeBytes } = await readHeader(handle, path);
    if (descr !== '<f4' || shape.length !== 2)
      throw new FinetuneError('DATASET_INVALID', `"${path}" holds ${descr} with shape (${shape.join(', ')}); features must be float32 '<f4' of shape (rows, dim).`,
        'Save the features as np.float32 with two dimensions.');
    const [numRows, embeddingDim] = shape as [number, number];
    checkSize(path, sizeBytes, dataOffset, numRows * embeddingDim);
    const rowBytes = embeddingDim * 4;
    return {
      path, numRows, embeddingDim,
      async read(start, count, out) {
        if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 0 && start + count <= numRows))
          throw new RangeError(`FeatureFile.read: rows [${start}, ${start + count}) are outside [0, ${numRows}).`);
        if (out.length < count * embeddingDim) throw new RangeError(`FeatureFile.read: out holds ${out.length} values, need ${count * embeddingDim}.`);
        const bytes = new Uint8Array(out.buffer, out.byteOffset, count * rowBytes);
        // One read may return less than asked (and at most 2 GiB): loop until the range is filled.
        for (let done = 0; done < bytes.length;) {
          const length = Math.min(bytes.length - done, 1 << 30);
          const { bytesRead } = await handle.read(bytes, done, length, dataOffset + start * rowBytes + done);
          if (bytesRead === 0) throw new FinetuneError('DATASET_INVALID', `"${path}" ended early while reading rows ${start}…${start + count - 1}.`, 'The file was truncated; export it again.');
          done += bytesRead;
        }
      },
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Reads an int32 [numRows] .npy label file (labels.npy of `finetune cache export`). */
export async function readLabelFile(path: string): Promise<Int32Array> {
  const handle = await open(path, 'r');
  try {
    const { descr, shape, dataOffset, sizeBytes } = await readHeader(handle, path);
    if (descr !== '<i4' || shape.length !== 1)
      throw new FinetuneError('DATASET_INVALID', `"${path}" holds ${descr} with shape (${shape.join(', ')}); labels must be int32 '<i4' of shape (rows,).`,
        'Save the labels as np.int32 with one dimension.');
    checkSize(path, sizeBytes, dataOffset, shape[0]!);
    const labels = new Int32Array(shape[0]!);
    await handle.read(new Uint8Array(labels.buffer), 0, labels.byteLength, dataOffset);
    return labels;
  } finally {
    await handle.close();
  }
}

/**
 * Appends rows to a new float32 .npy matrix; `close()` renames it into place. With a row count given up front
 * the file must get exactly that many rows; with `null` the header reserves room and is written at the end.
 */
export class FeatureFileWriter {
  private rowsWritten = 0;

  private constructor(readonly path: string, readonly numRows: number | null, readonly embeddingDim: number,
    private readonly tmpPath: string, private readonly handle: FileHandle, private position: number) {}

  static async create(path: string, numRows: number | null, embeddingDim: number): Promise<FeatureFileWriter> {
    await mkdir(dirname(path), { recursive: true });
    const tmpPath = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const handle = await open(tmpPath, 'w');
    const header = FeatureFileWriter.header(numRows ?? Number.MAX_SAFE_INTEGER, embeddingDim, 0);
    await handle.write(header, 0, header.length, 0);
    return new FeatureFileWriter(path, numRows, embeddingDim, tmpPath, handle, header.length);
  }

  private static header(numRows: number, embeddingDim: number, minBytes: number): Uint8Array {
    return encodeNpyHeader('<f4', [numRows, embeddingDim], minBytes);
  }

  /** Rows appended so far. */
  get rows(): number {
    return this.rowsWritten;
  }

  /** Appends whole rows (rows.length a multiple of embeddingDim). */
  async append(rows: Float32Array): Promise<void> {
    const count = rows.length / this.embeddingDim;
    if (!Number.isInteger(count) || this.rowsWritten + count > (this.numRows ?? Infinity))
      throw new RangeError(`FeatureFileWriter.append: ${rows.length} values are not whole rows of ${this.embeddingDim}, or exceed ${this.numRows} rows.`);
    const bytes = new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength);
    for (let done = 0; done < bytes.length;) {
      const { bytesWritten } = await this.handle.write(bytes, done, Math.min(bytes.length - done, 1 << 30), this.position + done);
      done += bytesWritten;
    }
    this.position += bytes.length;
    this.rowsWritten += count;
  }

  /** Finishes the file: all rows must have been appended. */
  async close(): Promise<void> {
    try {
      if (this.numRows !== null && this.rowsWritten !== this.numRows)
        throw new RangeError(`FeatureFileWriter.close: ${this.rowsWritten} of ${this.numRows} rows were written.`);
      if (this.numRows === null) {
        const reserved = FeatureFileWriter.header(Number.MAX_SAFE_INTEGER, this.embeddingDim, 0).length;
        const header = FeatureFileWriter.header(this.rowsWritten, this.embeddingDim, reserved);
        await this.handle.write(header, 0, header.length, 0);
      }
      await this.handle.sync();
      await this.handle.close();
      await rename(this.tmpPath, this.path);
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  /** Drops the unfinished file. */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => {});
    await rm(this.tmpPath, { force: true });
  }
}
