/** Worker-thread side of `sweep`: trains the configs it is sent on the shared feature matrices. */
import { parentPort, workerData } from 'node:worker_threads';
import { trainSweepJob } from './sweep.js';
import type { SweepJob, SweepReply, SweepWorkerData } from './sweep.js';
import { toWorkerError } from './train-workers.js';

const { train, validation } = workerData as SweepWorkerData;
const port = parentPort;
if (port === null) throw new Error('sweep-worker must run in a worker thread.');

port.on('message', (job: SweepJob) => {
  trainSweepJob(train, validation, job).then(   // a single-split job skips the check: the sweep checked the shared features once
    (result) => {
      if ('oofLogits' in result) { port.postMessage({ index: job.index, crossFit: result } satisfies SweepReply); return; }
      const transfer = result.head.layers.flatMap((layer) => [layer.kernel.buffer, layer.bias.buffer]) as ArrayBuffer[];
      port.postMessage({ index: job.index, result } satisfies SweepReply, transfer);
    },
    (error: unknown) => port.postMessage({ index: job.index, error: toWorkerError(error) } satisfies SweepReply),
  );
});
