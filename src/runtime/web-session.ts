/**
 * Runs a model through onnxruntime-web's WebAssembly backend inside Node, single-threaded: what a browser
 * user of the exported model will run. Export uses it to check parity with onnxruntime-node.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as OrtWeb from 'onnxruntime-web';
import { FinetuneError } from '../errors.js';
import { wrapSession, type ModelSession, type TensorConstructor } from './model-session.js';

let configured = false;

/** Points onnxruntime-web at the .wasm files in node_modules/onnxruntime-web/dist and pins one thread. */
function configureWasm(ortWeb: typeof OrtWeb): void {
  if (configured) return;
  const require = createRequire(import.meta.url);
  // The package exports its .wasm files by name (not its package.json), so resolve one of them.
  const wasmFile = require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm');
  ortWeb.env.wasm.wasmPaths = `${pathToFileURL(dirname(wasmFile)).href}/`;
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.logLevel = 'error';
  configured = true;
}

export interface WebSessionOptions {
  /**
   * The files the model's external data refers to, by the `location` written in the model (e.g. `model.onnx.data`),
   * as a browser would fetch them. @defaultValue none
   */
  readonly externalData?: ReadonlyArray<{ readonly path: string; readonly data: Uint8Array }>;
}

/** Loads a model (bytes) into onnxruntime-web's wasm backend. `provider` is `'wasm'`. */
export async function createWebSession(model: Uint8Array, options: WebSessionOptions = {}): Promise<ModelSession> {
  const ortWeb = await import('onnxruntime-web');   // on the first web session, never by importing finetune
  configureWasm(ortWeb);
  try {
    const session = await ortWeb.InferenceSession.create(model, {
      executionProviders: ['wasm'], logSeverityLevel: 3,
      ...(options.externalData ? { externalData: options.externalData.map(({ path, data }) => ({ path, data })) } : {}),
    });
    return wrapSession(session, ortWeb.Tensor as unknown as TensorConstructor, 'wasm');
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0]! : String(cause);
    throw new FinetuneError('RUNTIME_UNAVAILABLE', `onnxruntime-web (wasm) could not load a ${model.byteLength}-byte model: ${reason}`,
      'The web runtime lacks some operators of onnxruntime-node (e.g. some contrib ops); check the exported graph with `finetune inspect`.',
      { cause });
  }
}
