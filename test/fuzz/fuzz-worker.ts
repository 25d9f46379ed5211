/**
 * The child process that runs fuzz cases for harness.ts, one at a time, on the code paths a user reaches with
 * hostile files: `finetune inspect` and `--backbone x.onnx` (read → cut → ONNX Runtime session → one inference),
 * `--data manifest.csv|jsonl` (scan), and image decoding (decode → resize → normalise). Native code (ONNX Runtime,
 * sharp) runs here, so a crash or a hang kills this process, not the test.
 *
 * Protocol (IPC): the parent sends `{ id, target, path }`; the child answers `{ id, steps, maxRssBytes, ms }`
 * where each step is `{ name, ok: true }` or `{ name, ok: false, error: { name, code, message, finetune } }`.
 * It sends `{ ready: true, maxRssBytes }` once its modules are loaded.
 */
import { FinetuneError } from '../../src/errors.js';

export type FuzzTarget = 'onnx' | 'manifest' | 'image' | 'selftest';

export interface WorkerRequest {
  readonly id: number;
  readonly target: FuzzTarget;
  readonly path: string;
}

export interface StepError {
  readonly name: string;
  readonly code: string | null;
  readonly message: string;
  /** `error instanceof FinetuneError` in the child. */
  readonly finetune: boolean;
  readonly stack: string;
}

export type StepResult = { readonly name: string; readonly ok: true } | { readonly name: string; readonly ok: false; readonly error: StepError };

export interface WorkerReply {
  readonly id: number;
  readonly steps: StepResult[];
  readonly maxRssBytes: number;
  readonly ms: number;
  /** CPU time of this process during the case (user + system), which a busy machine does not inflate. */
  readonly cpuMs: number;
}

async function step(name: string, run: () => Promise<unknown>): Promise<StepResult> {
  try {
    await run();
    return { name, ok: true };
  } catch (error) {
    const finetune = error instanceof FinetuneError;
    const asError = error instanceof Error ? error : new Error(String(error));
    return {
      name, ok: false,
      error: { name: asError.name, code: finetune ? error.code : null, message: asError.message.slice(0, 2000), finetune, stack: (asError.stack ?? '').slice(0, 4000) },
    };
  }
}

// The code under test is imported on first use, so a worker for one target loads only what that target needs.

async function runOnnx(path: string): Promise<StepResult[]> {
  const [{ inspectModel }, { readModel }, { createSession }, { prepareBackbone }] = await Promise.all([
    import('../../src/onnx/inspect-model.js'), import('../../src/onnx/read-model.js'),
    import('../../src/runtime/session.js'), import('../../src/workflows/prepare-backbone.js')]);
  // `finetune inspect <model>`
  const inspect = await step('inspect', async () => inspectModel(await readModel(path)));
  // `--backbone <model.onnx>`: resolve, read, cut, then what extraction does with the cut model.
  const backbone = await step('backbone', async () => {
    const prepared = await prepareBackbone(path, { offline: true });
    const session = await createSession(prepared.extractor.modelBytes, { device: 'cpu', intraOpNumThreads: 1, interOpNumThreads: 1 });
    try {
      const { cropSize, layout } = prepared.preprocess;
      const dims = layout === 'NCHW' ? [1, 3, cropSize, cropSize] : [1, cropSize, cropSize, 3];
      const input = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.5);
      await session.runFloat(prepared.extractor.inputName, input, dims);
    } finally {
      await session.release();
    }
  });
  return [inspect, backbone];
}

async function runManifest(path: string): Promise<StepResult[]> {
  const { scanDataset } = await import('../../src/image/scan-dataset.js');
  return [await step('scan', async () => scanDataset(path))];
}

async function runImage(path: string): Promise<StepResult[]> {
  const [{ preprocessImage }, { IMAGENET_SPEC }] = await Promise.all([
    import('../../src/image/preprocess-image.js'), import('../../src/image/preprocess-spec.js')]);
  return [
    await step('preprocess', async () => preprocessImage(path, { ...IMAGENET_SPEC, resizeSize: 40, cropSize: 32 })),
    await step('preprocess-224', async () => preprocessImage(path, IMAGENET_SPEC)),
  ];
}

/** Misbehaviours the harness must classify (harness.test.ts): the "path" names one. */
async function runSelftest(behaviour: string): Promise<StepResult[]> {
  return [await step(behaviour, async () => {
    switch (behaviour) {
      case 'ok': return;
      case 'finetune-error': throw new FinetuneError('INVALID_OPTION', 'a user error', 'a hint');
      case 'type-error': throw new TypeError('an internal error');
      case 'crash': process.kill(process.pid, 'SIGSEGV'); return new Promise(() => {});
      case 'abort': process.abort(); return;
      case 'hang': return new Promise(() => {});
      case 'busy': { const start = process.cpuUsage(); while (process.cpuUsage(start).user < 800_000); return; }   // 0.8 s of CPU
      case 'memory': { const block = Buffer.alloc(300 * 2 ** 20, 1); return block.length; }
      default: throw new Error(`unknown selftest behaviour "${behaviour}"`);
    }
  })];
}

const runners: Record<FuzzTarget, (path: string) => Promise<StepResult[]>> = { onnx: runOnnx, manifest: runManifest, image: runImage, selftest: runSelftest };

const maxRssBytes = (): number => process.resourceUsage().maxRSS * 1024;

process.on('message', (request: WorkerRequest) => {
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  void runners[request.target](request.path).then((steps) => {
    const cpu = process.cpuUsage(cpuStart);
    const reply: WorkerReply = { id: request.id, steps, maxRssBytes: maxRssBytes(), ms: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000 };
    process.send!(reply);
  });
});
process.send!({ ready: true, maxRssBytes: maxRssBytes() });
