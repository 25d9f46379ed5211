/**
 * A rerun does not cut the backbone again (issue 17): describeBackbone answers from the record of an earlier cut
 * and cuts only when loadModel() is called, i.e. only when an image misses the embedding cache.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { writeModel } from '../../src/onnx/write-model.js';
import { describeBackbone, prepareBackbone } from '../../src/workflows/prepare-backbone.js';

let dir: string, backbone: string, home: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-describe-'));
  backbone = join(dir, 'backbone.onnx');
  home = join(dir, 'home');
  await writeModel(backbone, buildVggBackbone({ inputSize: 16, width: 4, hiddenDim: 32, seed: 3 }).model);
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

it('cuts once, then describes the backbone from the record and cuts only on demand', async () => {
  const eager = await prepareBackbone(backbone, { home });
  const records = (await readdir(join(home, 'cuts'))).filter((name) => name.endsWith('.json'));
  assert.equal(records.length, 1, 'prepareBackbone records its cut');

  const described = await describeBackbone(backbone, { home });
  assert.ok('loadModel' in described.extractor, 'no cut: the model comes later');
  assert.ok(!('modelBytes' in described.extractor));
  assert.deepEqual(described.extractor.spec, eager.extractor.spec);
  assert.equal(described.extractor.embeddingDim, eager.extractor.embeddingDim);
  assert.equal(described.cut.featureTensor, eager.cut.featureTensor);
  // The cut model recorded beside the cut is loaded by path (ONNX Runtime reads it), not cut again.
  const loaded = await described.extractor.loadModel();
  assert.equal(typeof loaded, 'string');
  assert.deepEqual(new Uint8Array(await readFile(loaded as string)), new Uint8Array(eager.extractor.modelBytes));

  // Other cut options are another record: cut now.
  const pooled = await describeBackbone(backbone, { home, layer: eager.cut.featureTensor, pooling: 'max' });
  assert.ok('modelBytes' in pooled.extractor);
  assert.deepEqual((await readdir(join(home, 'cuts'))).length, 4, 'two records, each with its cut model');

  // A record that disagrees with the real cut is caught when the model is needed (a record edited since its cut
  // model was written is not trusted with that file: the backbone is cut again and compared).
  const recordPath = join(home, 'cuts', records[0]!);
  const record = JSON.parse(await readFile(recordPath, 'utf8')) as { cut: { embeddingDim: number } };
  record.cut.embeddingDim += 1;
  await writeFile(recordPath, JSON.stringify(record));
  const stale = await describeBackbone(backbone, { home });
  assert.ok('loadModel' in stale.extractor);
  await assert.rejects(stale.extractor.loadModel(), { code: 'CACHE_MISMATCH' });
  // A damaged record is ignored.
  await writeFile(recordPath, 'garbage');
  assert.ok('modelBytes' in (await describeBackbone(backbone, { home })).extractor);
});

it('cuts again when the recorded cut model is damaged or gone, and records it anew', async () => {
  const ownHome = join(dir, 'home-model');
  const eager = await prepareBackbone(backbone, { home: ownHome });
  const modelFile = join(ownHome, 'cuts', (await readdir(join(ownHome, 'cuts'))).find((name) => name.endsWith('.onnx'))!);
  const loadFresh = async (): Promise<Uint8Array | string> => {
    const described = await describeBackbone(backbone, { home: ownHome });
    assert.ok('loadModel' in described.extractor);
    return described.extractor.loadModel();
  };
  assert.equal(await loadFresh(), modelFile);

  const flipped = new Uint8Array(await readFile(modelFile));
  flipped[flipped.length >> 1] = flipped[flipped.length >> 1]! ^ 0xff;   // same size, other bytes
  await writeFile(modelFile, flipped);
  assert.deepEqual(new Uint8Array(await loadFresh() as Uint8Array), new Uint8Array(eager.extractor.modelBytes), 'a damaged file is not used: the backbone is cut again');
  assert.deepEqual(new Uint8Array(await readFile(modelFile)), new Uint8Array(eager.extractor.modelBytes), 'and the file rewritten');
  assert.equal(await loadFresh(), modelFile);

  await rm(modelFile);
  assert.deepEqual(new Uint8Array(await loadFresh() as Uint8Array), new Uint8Array(eager.extractor.modelBytes), 'a missing file: cut again');
  assert.equal(await loadFresh(), modelFile);
});
