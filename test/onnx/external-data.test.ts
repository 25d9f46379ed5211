import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FinetuneError } from '../../src/errors.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/graph-builder.js';
import { inspectModel } from '../../src/onnx/inspect-model.js';
import { DataLocation } from '../../src/onnx/proto.js';
import { readModel } from '../../src/onnx/read-model.js';
import { tensorFloat32 } from '../../src/onnx/tensor-data.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import { runCli } from '../cli/helpers.js';

const WEIGHT = Float32Array.from([1, 2, 3, 4, 5, 6]);
const SECRET = Float32Array.from([666, 666, 666, 666, 666, 666]);

/** A model folder `dir/model` whose one weight is external data at `location`. */
async function modelWithExternalWeight(dir: string, location: string): Promise<string> {
  const w = makeTensor('w', 'float32', [3, 2], WEIGHT);
  delete w.raw_data;
  w.data_location = DataLocation.EXTERNAL;
  w.external_data = [{ key: 'location', value: location }, { key: 'length', value: '24' }];
  const graph = makeGraph([makeNode('MatMul', ['x', 'w'], ['y'])], [makeValueInfo('x', 'float32', ['N', 3])],
    [makeValueInfo('y', 'float32', ['N', 2])], { initializers: [w] });
  await mkdir(join(dir, 'model'), { recursive: true });
  const path = join(dir, 'model', 'model.onnx');
  await writeFile(path, encodeModel(makeModel(graph)));
  return path;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'finetune-external-'));
  try { await fn(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

async function outsideSecret(dir: string): Promise<string> {
  await mkdir(join(dir, 'outside'), { recursive: true });
  const secret = join(dir, 'outside', 'secret.bin');
  await writeFile(secret, new Uint8Array(SECRET.buffer));
  return secret;
}

function isOutsideError(error: unknown): boolean {
  assert.ok(error instanceof FinetuneError, `expected a FinetuneError, got ${String(error)}`);
  assert.equal(error.code, 'MODEL_INVALID');
  assert.match(error.message, /^Tensor "w" points outside the model's folder \(".*" resolves to ".*outside.secret\.bin"\)\.$/);
  return true;
}

test('external data behind a symlink to a file outside the model folder is refused, never read', async () => {
  await withTempDir(async (dir) => {
    const path = await modelWithExternalWeight(dir, 'w.bin');
    await symlink(await outsideSecret(dir), join(dir, 'model', 'w.bin'));
    await assert.rejects(readModel(path), isOutsideError);
  });
});

test('external data under a symlinked directory that leaves the model folder is refused', async () => {
  await withTempDir(async (dir) => {
    const path = await modelWithExternalWeight(dir, 'data/secret.bin');
    await outsideSecret(dir);
    await symlink(join(dir, 'outside'), join(dir, 'model', 'data'));
    await assert.rejects(readModel(path), isOutsideError);
  });
});

test('a symlink that stays inside the model folder is followed; a model folder reached through a symlink works', async () => {
  await withTempDir(async (dir) => {
    const path = await modelWithExternalWeight(dir, 'w.bin');
    await mkdir(join(dir, 'model', 'real'));
    await writeFile(join(dir, 'model', 'real', 'weights.bin'), new Uint8Array(WEIGHT.buffer));
    await symlink(join('real', 'weights.bin'), join(dir, 'model', 'w.bin'));
    assert.deepEqual(tensorFloat32((await readModel(path)).graph!.initializer[0]!), WEIGHT);
    await symlink(join(dir, 'model'), join(dir, 'linked-model'));
    assert.deepEqual(tensorFloat32((await readModel(join(dir, 'linked-model', 'model.onnx'))).graph!.initializer[0]!), WEIGHT);
  });
});

test('external data that is a FIFO fails at once instead of hanging', { timeout: 20_000 }, async () => {
  await withTempDir(async (dir) => {
    const path = await modelWithExternalWeight(dir, 'w.bin');
    execFileSync('mkfifo', [join(dir, 'model', 'w.bin')]);
    await assert.rejects(readModel(path), (error: unknown) => {
      assert.ok(error instanceof FinetuneError);
      assert.equal(error.code, 'MODEL_INVALID');
      assert.match(error.message, /external data of tensor "w".*not a regular file/);
      return true;
    });
    await mkdir(join(dir, 'model', 'dir.bin'));
    await writeFile(path, encodeModel(makeModel(makeGraph([], [], [makeValueInfo('y', 'float32', [1])], {
      initializers: [{ ...makeTensor('w', 'float32', [1], [0]), raw_data: undefined, data_location: DataLocation.EXTERNAL,
        external_data: [{ key: 'location', value: 'dir.bin' }] }],
    }))));
    await assert.rejects(readModel(path), /not a regular file/);
  });
});

test('inspect reads no external data: a FIFO does not stop it', { timeout: 40_000 }, async () => {
  await withTempDir(async (dir) => {
    const path = await modelWithExternalWeight(dir, 'w.bin');
    execFileSync('mkfifo', [join(dir, 'model', 'w.bin')]);
    const model = await readModel(path, { externalData: 'keep' });
    assert.equal(inspectModel(model).parameterCount, 6);
    const result = await runCli(['inspect', path, '--json'], {}, 30_000);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).parameterCount, 6);
  });
});

test('a model path that is a FIFO fails at once instead of hanging', { timeout: 20_000 }, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'model.onnx');
    execFileSync('mkfifo', [path]);
    await assert.rejects(readModel(path), (error: unknown) =>
      error instanceof FinetuneError && error.code === 'MODEL_INVALID' && /is not a regular file/.test(error.message));
  });
});
