import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { FinetuneError } from '../../src/errors.js';
import { cudaAvailability, executionProvidersFor } from '../../src/runtime/devices.js';
import { createSession, createSession as createSessionHere, type SessionOptions } from '../../src/runtime/session.js';
import { createWebSession } from '../../src/runtime/web-session.js';
import { buildModel, DataType, seededFloats, tinyBackbone, tinyLabeller } from './tiny-onnx.js';

const backbone = tinyBackbone({ size: 8, embeddingDim: 16 });

/** Reference: features = 2 · flatten(x) · W, computed in float64. */
function referenceFeatures(x: Float32Array, batch: number): Float64Array {
  const flat = 3 * 8 * 8;
  const w = seededFloats(flat * 16, 7);
  const out = new Float64Array(batch * 16);
  for (let row = 0; row < batch; row++) {
    for (let feature = 0; feature < flat; feature++) {
      for (let k = 0; k < 16; k++) out[row * 16 + k]! += 2 * x[row * flat + feature]! * w[feature * 16 + k]!;
    }
  }
  return out;
}

describe('devices', () => {
  it('maps cpu to the CPU provider and auto to what is installed', () => {
    assert.deepEqual(executionProvidersFor('cpu'), ['cpu']);
    const auto = executionProvidersFor('auto');
    assert.equal(auto.at(-1), 'cpu');
    assert.equal(auto.includes('cuda'), cudaAvailability().installed);
  });

  it('rejects --device cuda without the CUDA libraries, naming npm run setup:cuda', { skip: cudaAvailability().installed ? 'CUDA libraries are installed' : false }, () => {
    assert.throws(() => executionProvidersFor('cuda'), (error: unknown) => {
      assert.ok(error instanceof FinetuneError);
      assert.equal(error.code, 'RUNTIME_UNAVAILABLE');
      assert.match(error.hint ?? '', /npm run setup:cuda/);
      assert.match(error.message, /libonnxruntime_providers_cuda\.so/);
      return true;
    });
  });

  it('detects the provider libraries as files (listSupportedBackends says bundled:false either way)', () => {
    const cuda = ort.listSupportedBackends().find((backend) => backend.name === 'cuda');
    const availability = cudaAvailability();
    if (process.platform === 'linux' && process.arch === 'x64') {
      assert.ok(cuda, 'onnxruntime-node on linux/x64 lists a cuda backend');
      assert.ok(availability.binDir?.endsWith(join('napi-v6', 'linux', 'x64')));
    }
    assert.equal(availability.installed, availability.missing.length === 0);
  });
});

for (const worker of [false, true]) describe(`createSession (onnxruntime-node${worker ? ', on a worker thread' : ''})`, () => {
  const createSession = (model: Uint8Array | string, options: SessionOptions = {}) => createSessionHere(model, { ...options, worker });

  it('runs float inputs, reports the provider and the model interface', async () => {
    const session = await createSession(backbone.bytes, { device: 'cpu', intraOpNumThreads: 1 });
    try {
      assert.equal(session.provider, 'cpu');
      assert.equal(session.fallbackReason, null);
      assert.deepEqual(session.inputNames, ['input']);
      assert.deepEqual(session.outputNames, ['features']);
      assert.deepEqual(session.inputs[0], { name: 'input', type: 'float32', shape: ['batch', 3, 8, 8] });
      const x = seededFloats(2 * 192, 11);
      const out = await session.runFloat('input', x, [2, 3, 8, 8]);
      const features = out['features']!;
      assert.deepEqual(features.dims, [2, 16]);
      const expected = referenceFeatures(x, 2);
      for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(features.data[i]! - expected[i]!) < 1e-3, `feature ${i}`);
    } finally {
      await session.release();
    }
  });

  it('reads a subarray view at its byteOffset', async () => {
    const session = await createSession(backbone.bytes, { device: 'cpu' });
    const x = seededFloats(3 * 192, 5);
    const whole = (await session.runFloat('input', x, [3, 3, 8, 8]))['features']!.data;
    const last = (await session.runFloat('input', x.subarray(2 * 192), [1, 3, 8, 8]))['features']!.data;
    assert.deepEqual([...last], [...whole.subarray(32)]);
    await session.release();
  });

  it('runs uint8 inputs with string outputs (an exported classifier)', async () => {
    const session = await createSession(tinyLabeller(['cat', 'dog', 'fox']), { device: 'auto' });
    const out = await session.run({ image: { type: 'uint8', dims: [3, 3], data: Uint8Array.from([9, 1, 1, 0, 5, 1, 2, 3, 4]) } });
    assert.equal(out['label']!.type, 'string');
    assert.deepEqual(out['label']!.data, ['cat', 'dog', 'fox']);
    assert.equal(out['probabilities']!.type, 'float32');
    assert.deepEqual([...(out['probabilities']!.data as Float32Array)], [9, 1, 1, 0, 5, 1, 2, 3, 4]);
    const onlyLabel = await session.run({ image: { type: 'uint8', dims: [1, 3], data: Uint8Array.from([0, 0, 7]) } },
      { outputNames: ['label'] });
    assert.deepEqual(Object.keys(onlyLabel), ['label']);
    await assert.rejects(session.runFloat('image', new Float32Array(3), [1, 3]), /expects uint8, got float32/);
    await session.release();
  });

  it('checks feeds before running and describes them in the error', async () => {
    const session = await createSession(backbone.bytes, { device: 'cpu' });
    await assert.rejects(session.runFloat('input', new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]), (error: unknown) => {
      assert.ok(error instanceof FinetuneError);
      assert.equal(error.code, 'INFERENCE_FAILED');
      assert.match(error.message, /expects shape \[batch, 3, 8, 8\], got \[2, 3, 4, 4\]/);
      assert.match(error.message, /input: float32\[2, 3, 4, 4\]/);
      return true;
    });
    await assert.rejects(session.runFloat('pixels', new Float32Array(192), [1, 3, 8, 8]),
      /input "input" .* is missing.*"pixels" is not a model input/);
    await assert.rejects(session.runFloat('input', new Float32Array(100), [1, 3, 8, 8]), /has 100 elements but dims \[1, 3, 8, 8\] need 192/);
    await session.release();
    await assert.rejects(session.runFloat('input', new Float32Array(192), [1, 3, 8, 8]), /released/);
  });

  it('wraps ORT runtime errors with the cause and the feeds', async () => {
    // Reshape to a constant [3]: passes our checks (symbolic dims), fails inside ORT for 4 elements.
    const model = buildModel({
      inputs: [{ name: 'x', elemType: DataType.FLOAT, dims: ['N', 'K'] }],
      outputs: [{ name: 'y', elemType: DataType.FLOAT, dims: [3] }],
      initializers: [{ name: 'shape', dims: [1], int64s: [3] }],
      nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
    });
    const session = await createSession(model, { device: 'cpu' });
    assert.deepEqual([...(await session.runFloat('x', Float32Array.from([1, 2, 3]), [1, 3]))['y']!.data], [1, 2, 3]);
    await assert.rejects(session.runFloat('x', new Float32Array(4), [2, 2]), (error: unknown) => {
      assert.ok(error instanceof FinetuneError);
      assert.equal(error.code, 'INFERENCE_FAILED');
      assert.match(error.message, /ONNX Runtime \(cpu\) failed on inputs \{x: float32\[2, 2\]\}/);
      assert.ok(error.cause instanceof Error);
      return true;
    });
    await session.release();
  });

  it('fails on missing files and invalid bytes with typed errors', async () => {
    await assert.rejects(createSession('/nonexistent/model.onnx'), { code: 'FILE_NOT_FOUND' });
    const dir = await mkdtemp(join(tmpdir(), 'finetune-session-'));
    try {
      const path = join(dir, 'bad.onnx');
      await writeFile(path, 'not a model');
      await assert.rejects(createSession(path, { device: 'cpu' }), (error: unknown) => {
        assert.ok(error instanceof FinetuneError);
        assert.equal(error.code, 'MODEL_INVALID');
        assert.ok(error.cause instanceof Error);
        return true;
      });
      await assert.rejects(createSession(backbone.bytes, { intraOpNumThreads: -1 }), RangeError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('createWebSession (onnxruntime-web, wasm)', () => {
  let web: Awaited<ReturnType<typeof createWebSession>>;
  before(async () => { web = await createWebSession(backbone.bytes); });
  after(async () => { await web.release(); });

  it('matches onnxruntime-node on the same input, with the same result shape', async () => {
    const node = await createSession(backbone.bytes, { device: 'cpu' });
    const x = seededFloats(4 * 192, 3);
    const fromNode = (await node.runFloat('input', x, [4, 3, 8, 8]))['features']!;
    const fromWeb = (await web.runFloat('input', x, [4, 3, 8, 8]))['features']!;
    assert.equal(web.provider, 'wasm');
    assert.deepEqual(fromWeb.dims, fromNode.dims);
    for (let i = 0; i < fromNode.data.length; i++) assert.ok(Math.abs(fromNode.data[i]! - fromWeb.data[i]!) < 1e-4);
    await node.release();
  });

  it('runs uint8 → string models', async () => {
    const labeller = await createWebSession(tinyLabeller(['x', 'y', 'z']));
    const out = await labeller.run({ image: { type: 'uint8', dims: [2, 3], data: Uint8Array.from([0, 0, 1, 1, 0, 0]) } });
    assert.deepEqual(out['label']!.data, ['z', 'x']);
    await labeller.release();
  });

  it('rejects bytes that are not a model', async () => {
    await assert.rejects(createWebSession(new TextEncoder().encode('garbage')), { code: 'RUNTIME_UNAVAILABLE' });
  });
});

describe('createSession({ worker: true })', () => {
  /** Counts event-loop turns (setImmediate) while `work` runs. */
  async function turnsDuring(work: () => Promise<unknown>): Promise<number> {
    let turns = 0, running = true;
    const spin = (): void => { if (running) { turns++; setImmediate(spin); } };
    setImmediate(spin);
    await work();
    running = false;
    return turns;
  }

  it('keeps the calling thread free while the model runs (on this thread it is blocked)', async () => {
    // 32 images through a 64×64 MatMul backbone: long enough to notice, the same work both ways.
    const heavy = tinyBackbone({ size: 64, embeddingDim: 1024 });
    const x = seededFloats(32 * 3 * 64 * 64, 9);
    const dims = [32, 3, 64, 64];
    const here = await createSession(heavy.bytes, { device: 'cpu', intraOpNumThreads: 1 });
    const there = await createSession(heavy.bytes, { device: 'cpu', intraOpNumThreads: 1, worker: true });
    try {
      await here.runFloat('input', x, dims);
      await there.runFloat('input', x, dims);
      let fromHere: Float32Array | undefined, fromThere: Float32Array | undefined;
      const blocked = await turnsDuring(async () => { fromHere = (await here.runFloat('input', x, dims))['features']!.data; });
      const free = await turnsDuring(async () => { fromThere = (await there.runFloat('input', x, dims))['features']!.data; });
      assert.deepEqual(fromThere, fromHere, 'the same features either way');
      assert.ok(blocked <= 3, `on this thread the run blocks the event loop (${blocked} turns)`);
      assert.ok(free > blocked + 20, `on a worker the event loop keeps turning (${free} turns vs ${blocked})`);
    } finally {
      await here.release();
      await there.release();
    }
  });

  it('moves the input to the worker with transferInputs (detached after the run), copies it without', async () => {
    const session = await createSession(backbone.bytes, { device: 'cpu', worker: true });
    const here = await createSession(backbone.bytes, { device: 'cpu' });
    try {
      const x = seededFloats(4 * 3 * 8 * 8, 11);
      const expected = (await here.runFloat('input', x, [4, 3, 8, 8]))['features']!.data;
      const copied = x.slice();
      const fromCopy = (await session.runFloat('input', copied, [4, 3, 8, 8]))['features']!.data;
      assert.equal(copied.length, 4 * 3 * 8 * 8, 'without transferInputs the caller keeps its data');
      const moved = x.slice();
      const fromMoved = (await session.runFloat('input', moved, [4, 3, 8, 8], { transferInputs: true }))['features']!.data;
      assert.equal(moved.length, 0, 'with transferInputs the buffer went to the worker (detached here)');
      assert.deepEqual(fromMoved, expected);
      assert.deepEqual(fromCopy, expected);
      const inProcess = x.slice();
      await here.runFloat('input', inProcess, [4, 3, 8, 8], { transferInputs: true });
      assert.equal(inProcess.length, 4 * 3 * 8 * 8, 'a session on this thread never detaches anything');
    } finally {
      await session.release();
      await here.release();
    }
  });

  it('lets the process exit without release (the worker does not keep it alive when idle)', () => {
    const script = `
      import { createSession } from ${JSON.stringify(new URL('../../src/runtime/session.ts', import.meta.url).pathname)};
      import { tinyBackbone } from ${JSON.stringify(new URL('./tiny-onnx.ts', import.meta.url).pathname)};
      const session = await createSession(tinyBackbone().bytes, { device: 'cpu', worker: true });
      await session.runFloat('input', new Float32Array(192), [1, 3, 8, 8]);
      console.log('ran');
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'ran');
  });
});
