// The worker thread behind createSession({ worker: true }) (session.ts): hosts one onnxruntime-node
// InferenceSession and runs it on request, so the thread that asked stays free while the model computes.
// Plain JavaScript on purpose: a worker has none of the parent's loader hooks (tsx), and registering them again
// would cost about half a second per session. Everything else (provider choice, fallback, checks, error
// messages) stays in session.ts and model-session.ts; this file only relays.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

ort.env.logLevel = 'fatal';   // see quietOrtDefaultLogger in session.ts
const port = parentPort;
/** @type {Uint8Array | string} */
const model = workerData.model;
/** @type {ort.InferenceSession | null} */
let session = null;

const firstLine = (error) => (error instanceof Error ? error.message : String(error)).split('\n')[0];
/** A plain, cloneable tensor; its data buffer is transferred. */
const plain = (tensor) => ({ type: tensor.type, dims: [...tensor.dims], data: tensor.data });

let queue = Promise.resolve();
port.on('message', (request) => {
  queue = queue.then(async () => {
    switch (request.type) {
      case 'create':
        try {
          session = await ort.InferenceSession.create(model, request.options);
          port.postMessage({ type: 'created', inputNames: session.inputNames, outputNames: session.outputNames,
            inputMetadata: session.inputMetadata, outputMetadata: session.outputMetadata });
        } catch (error) {
          port.postMessage({ type: 'failed', message: firstLine(error) });
        }
        return;
      case 'run':
        try {
          const feeds = {};
          for (const [name, feed] of Object.entries(request.feeds)) feeds[name] = new ort.Tensor(feed.type, feed.data, feed.dims);
          const results = await session.run(feeds, request.fetches);
          const outputs = {};
          const transfer = [];
          for (const [name, tensor] of Object.entries(results)) {
            outputs[name] = plain(tensor);
            if (ArrayBuffer.isView(tensor.data)) transfer.push(tensor.data.buffer);
          }
          port.postMessage({ type: 'result', id: request.id, outputs }, transfer);
        } catch (error) {
          port.postMessage({ type: 'failed', id: request.id, message: firstLine(error) });
        }
        return;
      case 'release':
        await session?.release();
        session = null;
        port.close();
        return;
      default:
        throw new Error(`ort-worker: unknown request ${JSON.stringify(request.type)}`);
    }
  });
});
