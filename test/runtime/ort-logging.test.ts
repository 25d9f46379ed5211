/**
 * Issue 14, defect 10: ONNX Runtime's native log lines never reach stderr. Sessions log at `logSeverityLevel` 4
 * (fatal: a failing node or initializer is already reported by the error we throw), and the process-wide default
 * logger (GPU device discovery, CUDA provider library loading) is created at 'fatal', since every failure it could
 * describe reaches the user through our own errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';

it('creates and runs sessions without writing to stderr, with ORT\'s default logger at fatal', () => {
  const source = (path: string): string => JSON.stringify(new URL(path, import.meta.url).pathname);
  const script = `
    import * as ort from 'onnxruntime-node';
    import { createSession } from ${source('../../src/runtime/session.ts')};
    import { buildModel, DataType, seededFloats } from ${source('./tiny-onnx.ts')};
    // An initializer that is also a graph input, and one that no node uses: both draw warnings from ORT.
    const model = buildModel({
      inputs: [{ name: 'x', elemType: DataType.FLOAT, dims: ['N', 4] }, { name: 'w', elemType: DataType.FLOAT, dims: [4] }],
      outputs: [{ name: 'y', elemType: DataType.FLOAT, dims: ['N', 4] }],
      initializers: [{ name: 'w', dims: [4], floats: seededFloats(4, 1) }, { name: 'unused', dims: [4], floats: seededFloats(4, 2) }],
      nodes: [{ op: 'Add', inputs: ['x', 'w'], outputs: ['y'] }],
    });
    const session = await createSession(model, { device: 'auto' });
    const { y } = await session.runFloat('x', new Float32Array([1, 2, 3, 4]), [1, 4]);
    await session.release();
    console.log(JSON.stringify({ logLevel: ort.env.logLevel, values: y.data.length }));
  `;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '', 'nothing on stderr');
  assert.deepEqual(JSON.parse(run.stdout.trim()), { logLevel: 'fatal', values: 4 });
});

it('a model that fails inside ONNX Runtime is reported by our error only, not by an ORT log line on stderr', () => {
  // The fuzz tests found this: ORT logged "[E:onnxruntime:…] Non-zero status code returned while running …" at
  // severity 3 (error) before the same failure reached us as an exception.
  const source = (path: string): string => JSON.stringify(new URL(path, import.meta.url).pathname);
  const script = `
    import { createSession } from ${source('../../src/runtime/session.ts')};
    import { buildModel, DataType } from ${source('./tiny-onnx.ts')};
    // BatchNormalization whose scale is 2-D: the session loads, the run fails in the kernel.
    const model = buildModel({
      inputs: [{ name: 'x', elemType: DataType.FLOAT, dims: [1, 2, 2, 2] }],
      outputs: [{ name: 'y', elemType: DataType.FLOAT, dims: [1, 2, 2, 2] }],
      initializers: ['scale', 'bias', 'mean', 'var'].map((name) => ({ name, dims: name === 'scale' ? [2, 1] : [2], floats: new Float32Array([1, 1]) })),
      nodes: [{ op: 'BatchNormalization', inputs: ['x', 'scale', 'bias', 'mean', 'var'], outputs: ['y'] }],
    });
    const session = await createSession(model, { device: 'cpu', graphOptimizationLevel: 'disabled' });
    const failure = await session.runFloat('x', new Float32Array(8), [1, 2, 2, 2]).then(() => null, (error) => error);
    await session.release();
    console.log(JSON.stringify({ code: failure?.code ?? null }));
  `;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout.trim()), { code: 'INFERENCE_FAILED' }, 'the failure reaches the caller as our error');
  assert.equal(run.stderr, '', 'nothing on stderr');
});
