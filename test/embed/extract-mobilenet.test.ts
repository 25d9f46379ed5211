import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { EmbeddingCache } from '../../src/embed/embedding-cache.js';
import { extractEmbeddings, type FeatureExtractor } from '../../src/embed/extract-embeddings.js';
import { IMAGENET_SPEC } from '../../src/image/preprocess-spec.js';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import { readModel } from '../../src/onnx/read-model.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import { sha256File } from '../../src/util/hash.js';
import { writeFashionMnistFolder } from '../helpers/images.js';
import { mobilenetInt8Path, skipWithoutFashionMnist, skipWithoutShared } from '../helpers/shared.js';

const skip = skipWithoutShared || skipWithoutFashionMnist;
let dir: string | undefined;
after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

it('embeds 60 Fashion-MNIST images with the real mobilenetv2-12-int8, then serves them all from the cache', { skip }, async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-mobilenet-'));
  const paths = await writeFashionMnistFolder(join(dir, 'data'), [0, 1, 7], 20);
  assert.equal(paths.length, 60);
  const cut = cutBackbone(await readModel(mobilenetInt8Path));
  const extractor: FeatureExtractor = {
    modelBytes: encodeModel(cut.model),
    inputName: cut.inputName,
    embeddingDim: cut.embeddingDim,
    spec: { backboneSha256: await sha256File(mobilenetInt8Path), layer: cut.featureTensor, pooling: cut.pooling, preprocess: IMAGENET_SPEC },
  };
  assert.equal(extractor.embeddingDim, 1280);
  const cache = EmbeddingCache.open({ cacheDir: join(dir, 'cache') });
  const items = paths.map((path) => ({ path }));
  const first = await extractEmbeddings(items, extractor, { cache, device: 'auto' });
  assert.equal(first.computed, 60);
  assert.equal(first.failed.length, 0);
  assert.ok(first.provider === 'cpu' || first.provider === 'cuda');
  assert.equal(first.features.length, 60 * 1280);
  let min = Infinity, max = -Infinity;
  for (const value of first.features) {
    assert.ok(Number.isFinite(value));
    if (value < min) min = value;
    if (value > max) max = value;
  }
  assert.ok(max > min, 'features are not constant');
  // Rows differ between images of one class and across classes (tshirt vs sneaker).
  const row = (r: number): Float32Array => first.features.subarray(r * 1280, (r + 1) * 1280);
  assert.notDeepEqual(row(0), row(1));
  assert.notDeepEqual(row(0), row(59));

  const second = await extractEmbeddings(items, extractor, { cache });
  assert.equal(second.cacheHits, 60);
  assert.equal(second.computed, 0);
  assert.equal(second.backboneBatches, 0);
  assert.deepEqual(second.features, first.features);
  cache.close();
});
