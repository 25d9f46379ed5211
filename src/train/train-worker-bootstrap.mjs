// Entry point of the training worker threads (sweep configs, cross-fitting folds; see train-workers.ts). Node 20 does not apply the parent's `--import tsx` hooks to a worker's
// .ts entry file, so the worker starts from this plain module, registers tsx itself, then loads the TS worker.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
