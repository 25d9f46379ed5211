import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FinetuneError } from '../../src/errors.js';
import { exportClassifier } from '../../src/export/export-classifier.js';
import { IMAGENET_SPEC } from '../../src/image/preprocess-spec.js';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import { DISK_WEIGHT_MIN_BYTES, diskWeightOf, hasDiskWeights, loadDiskWeights } from '../../src/onnx/disk-weights.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { readModel } from '../../src/onnx/read-model.js';
import { encodeModelReadingWeights, referenceWeights, streamModel } from '../../src/onnx/stream-model.js';
import { buildResnetBackbone, buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import type { HeadWeights } from '../../src/types.js';
import { mobilenetInt8Path, skipWithoutShared } from '../helpers/shared.js';

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'finetune-disk-weights-'));
  try { await fn(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

const sha256 = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');
const inMemoryBytes = (model: ModelProto): number => (model.graph?.initializer ?? []).reduce((sum, tensor) => sum + (tensor.raw_data?.length ?? 0), 0);

function linearHead(embeddingDim: number, numClasses: number): HeadWeights {
  const kernel = Float32Array.from({ length: embeddingDim * numClasses }, (_, i) => Math.sin(i) * 0.1);
  return { embeddingDim, numClasses,
    standardization: { mean: new Float32Array(embeddingDim), std: new Float32Array(embeddingDim).fill(1) }, layers: [{ inputDim: embeddingDim, outputDim: numClasses, kernel, bias: new Float32Array(numClasses), activation: 'linear' }] };
}

test("readModel(weights: 'disk') leaves the large weights in the file: loading them gives the same model, streaming it the same file", async () => {
  await withTempDir(async (dir) => {
    const models: Array<[string, Uint8Array]> = [
      ['vgg.onnx', encodeModel(buildVggBackbone({ width: 16 }).model)],
      ['resnet.onnx', encodeModel(buildResnetBackbone({ width: 16 }).model)],
    ];
    if (!skipWithoutShared) models.push(['mobilenet-int8.onnx', new Uint8Array(await readFile(mobilenetInt8Path))]);
    for (const [name, bytes] of models) {
      const path = join(dir, name);
      await writeFile(path, bytes);
      const inMemory = await readModel(path);
      const onDisk = await readModel(path, { weights: 'disk' });
      const left = onDisk.graph!.initializer.filter((tensor) => diskWeightOf(tensor) !== undefined);
      assert.ok(left.length > 0, `${name}: some weights stay on disk`);
      for (const tensor of left) {
        assert.equal(tensor.raw_data, undefined);
        assert.ok(diskWeightOf(tensor)!.length >= DISK_WEIGHT_MIN_BYTES);
      }
      assert.ok(inMemoryBytes(onDisk) < inMemoryBytes(inMemory) / 4, `${name}: ${inMemoryBytes(onDisk)} bytes of weights in memory`);
      assert.deepEqual(encodeModel(loadDiskWeights(onDisk)), encodeModel(inMemory), `${name}: loadDiskWeights restores every byte`);
      assert.ok(hasDiskWeights(onDisk), 'loadDiskWeights returns a copy: the model read is unchanged');
      assert.deepEqual(encodeModelReadingWeights(onDisk), encodeModel(inMemory), `${name}: encoded with its weights read into place`);
      await streamModel(onDisk, join(dir, `${name}.streamed`));
      await streamModel(inMemory, join(dir, `${name}.expected`));
      assert.equal(await sha256(join(dir, `${name}.streamed`)), await sha256(join(dir, `${name}.expected`)), `${name}: streamed inline`);
      const external = (file: string) => ({ externalData: { path: join(dir, `${file}.data`), location: `${file}.data` } });
      const fromDisk = await streamModel(onDisk, join(dir, 'a.onnx'), external('a.onnx'));
      const fromMemory = await streamModel(inMemory, join(dir, 'b.onnx'), external('b.onnx'));
      assert.deepEqual(fromDisk.weights, fromMemory.weights);
      // A probe that reads the weights from the written file no longer needs the backbone's.
      const probe = referenceWeights(onDisk, fromDisk.weights, { model: 'a.onnx', external: 'a.onnx.data' });
      assert.equal(hasDiskWeights(probe), false);
      assert.ok(encodeModel(probe).length < 2 * DISK_WEIGHT_MIN_BYTES * onDisk.graph!.initializer.length);
      assert.equal(await sha256(join(dir, 'a.onnx.data')), await sha256(join(dir, 'b.onnx.data')), `${name}: external data`);
    }
  });
});

test('a backbone read with its weights on disk cuts and exports to the same model.onnx as one read into memory', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'vgg.onnx');
    await writeFile(path, encodeModel(buildVggBackbone({ width: 16, seed: 3, inputSize: 224 }).model));
    const exported = async (model: ModelProto, out: string): Promise<string> => {
      const cut = cutBackbone(model);
      await streamModel(exportClassifier(cut.model, linearHead(cut.embeddingDim, 3), { classNames: ['a', 'b', 'c'], preprocess: IMAGENET_SPEC }), out);
      return sha256(out);
    };
    assert.equal(await exported(await readModel(path, { weights: 'disk' }), join(dir, 'disk.onnx')),
      await exported(await readModel(path), join(dir, 'memory.onnx')));
  });
});

test('a model with weights on disk: encodeModel refuses it, and a file changed since reading is an error, not a wrong model', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'vgg.onnx');
    await writeFile(path, encodeModel(buildVggBackbone({ width: 16 }).model));
    const model = await readModel(path, { weights: 'disk' });
    assert.throws(() => encodeModel(model), (error: unknown) => error instanceof FinetuneError && error.code === 'EXPORT_FAILED' &&
      /loadDiskWeights/.test(error.hint ?? ''));
    await utimes(path, new Date(), new Date(Date.now() + 60_000));
    const changed = (error: unknown): boolean => error instanceof FinetuneError && error.code === 'MODEL_INVALID' &&
      error.message.includes('changed since it was read');
    assert.throws(() => loadDiskWeights(model), changed);
    await assert.rejects(streamModel(model, join(dir, 'out.onnx')), changed);
  });
});

test("readModel(weights: 'disk') follows a symlinked model file and refuses a truncated one with MODEL_INVALID", async () => {
  await withTempDir(async (dir) => {
    const bytes = encodeModel(buildVggBackbone({ width: 16 }).model);
    // As in the Hugging Face cache: snapshots/<rev>/model.onnx -> ../../blobs/<sha>.
    await mkdir(join(dir, 'blobs'));
    await mkdir(join(dir, 'snapshots', 'rev'), { recursive: true });
    await writeFile(join(dir, 'blobs', 'abc'), bytes);
    await symlink('../../blobs/abc', join(dir, 'snapshots', 'rev', 'model.onnx'));
    const model = await readModel(join(dir, 'snapshots', 'rev', 'model.onnx'), { weights: 'disk' });
    assert.deepEqual(encodeModel(loadDiskWeights(model)), bytes);

    const truncated = join(dir, 'truncated.onnx');
    await writeFile(truncated, bytes);
    await truncate(truncated, Math.floor(bytes.length * 0.6));
    await assert.rejects(readModel(truncated, { weights: 'disk' }), (error: unknown) => error instanceof FinetuneError &&
      error.code === 'MODEL_INVALID' && /not a valid ONNX model/.test(error.message));
  });
});
