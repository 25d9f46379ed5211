/** Worker-thread side of crossFit's parallel folds: trains the folds it is sent on the shared feature matrix. */
import { parentPort, workerData } from 'node:worker_threads';
import { trainFold } from './cross-fit.js';
import type { FoldJob, FoldReply, FoldWorkerData } from './cross-fit.js';
import { toWorkerError } from './train-workers.js';

const { train, views } = workerData as FoldWorkerData;
const port = parentPort;
if (port === null) throw new Error('cross-fit-worker must run in a worker thread.');

port.on('message', (job: FoldJob) => {
  trainFold(train, views, job).then(
    (trained) => {
      const buffers = [...trained.result.head.layers.flatMap((layer) => [layer.kernel.buffer, layer.bias.buffer]),
        ...[...(trained.snapshots?.values() ?? [])].flat().map((array) => array.buffer)] as ArrayBuffer[];
      port.postMessage({ fold: job.fold, trained } satisfies FoldReply, [...new Set(buffers)]);
    },
    (error: unknown) => port.postMessage({ fold: job.fold, error: toWorkerError(error) } satisfies FoldReply),
  );
});
port.postMessage({ ready: true } satisfies FoldReply);
