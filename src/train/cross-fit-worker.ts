/**
 * Worker-thread side of crossFit's parallel folds: trains each fold it is sent on the shared feature matrix sent
 * with it (a pooled worker serves successive crossFit calls; it keeps no data between folds).
 */
import { parentPort } from 'node:worker_threads';
import { trainFold } from './cross-fit.js';
import type { FoldMessage, FoldReply } from './cross-fit.js';
import { toWorkerError } from './train-workers.js';
import { fastestDenseKernels } from './wasm-dense-kernels.js';

const port = parentPort;
if (port === null) throw new Error('cross-fit-worker must run in a worker thread.');

port.on('message', ({ job, data }: FoldMessage) => {
  trainFold(data.train, data.views, job).then(
    (trained) => {
      const buffers = [...trained.result.head.layers.flatMap((layer) => [layer.kernel.buffer, layer.bias.buffer]),
        ...[...(trained.snapshots?.values() ?? [])].flat().map((array) => array.buffer)] as ArrayBuffer[];
      port.postMessage({ fold: job.fold, trained } satisfies FoldReply, [...new Set(buffers)]);
    },
    (error: unknown) => port.postMessage({ fold: job.fold, error: toWorkerError(error) } satisfies FoldReply),
  );
});
// Warm-up before 'ready', so that a worker started ahead of a crossFit (prewarmFoldWorkers) trains its first fold at
// full speed: the kernels' WebAssembly module compiled, and the training code run once on 64 rows (~10 ms).
const warmUp = { features: new Float32Array(64 * 16).map((_, i) => Math.sin(i)), labels: Int32Array.from({ length: 64 }, (_, row) => row % 2), numSamples: 64, embeddingDim: 16 };
fastestDenseKernels();
await trainFold(warmUp, null, { fold: 0, seed: 1, trainRows: Int32Array.from({ length: 48 }, (_, row) => row), heldOutRows: Int32Array.from({ length: 16 }, (_, row) => 48 + row),
  options: { numClasses: 2, epochs: 2, threads: 1 }, snapshotBudgetBytes: 1 << 16 });
port.postMessage({ ready: true } satisfies FoldReply);
