/**
 * Issue 14, defect 4: a backbone that emits NaN or ±Infinity never writes those vectors into the cache. The
 * extraction stops with INFERENCE_FAILED naming the backbone, the layer and the images; the finite rows computed
 * before (and beside) them stay cached, so nothing computed is lost and a rerun fails the same way.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import sharp from 'sharp';
import { EmbeddingCache, extractorKey } from '../../src/embed/embedding-cache.js';
import { extractEmbeddings, type FeatureExtractor } from '../../src/embed/extract-embeddings.js';
import { FinetuneError } from '../../src/errors.js';
import { sha256 } from '../../src/util/hash.js';
import { buildModel, DataType, seededFloats } from '../runtime/tiny-onnx.js';
import { TINY_PREPROCESS } from './fixtures/embed-fixtures.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'finetune-non-finite-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

/**
 * features = log(mean of the normalised image) × w: finite for bright images (mean > 0 after subtracting 0.5),
 * NaN for dark ones.
 */
function logMeanExtractor(): FeatureExtractor {
  const bytes = buildModel({
    inputs: [{ name: 'input', elemType: DataType.FLOAT, dims: ['batch', 3, 8, 8] }],
    outputs: [{ name: 'features', elemType: DataType.FLOAT, dims: ['batch', 4] }],
    initializers: [{ name: 'w', dims: [1, 4], floats: seededFloats(4, 3) }],
    nodes: [
      { op: 'ReduceMean', inputs: ['input'], outputs: ['mean'], attributes: [{ name: 'axes', ints: [1, 2, 3] }, { name: 'keepdims', int: 0 }] },
      { op: 'Log', inputs: ['mean'], outputs: ['log'] },
      { op: 'Unsqueeze', inputs: ['log'], outputs: ['column'], attributes: [{ name: 'axes', ints: [1] }] },
      { op: 'MatMul', inputs: ['column', 'w'], outputs: ['features'] },
    ],
    opset: 12,
  });
  return {
    modelBytes: bytes, name: 'log-mean.onnx', inputName: 'input', embeddingDim: 4,
    spec: { backboneSha256: sha256(bytes), layer: 'features', pooling: 'none', preprocess: TINY_PREPROCESS },
  };
}

async function solid(name: string, grey: number): Promise<string> {
  const path = join(dir, 'images', name);
  await mkdir(join(dir, 'images'), { recursive: true });
  await writeFile(path, await sharp({ create: { width: 12, height: 12, channels: 3, background: { r: grey, g: grey, b: grey } } }).png().toBuffer());
  return path;
}

it('refuses to cache NaN features and names the backbone, the layer and the images', async () => {
  const bright = await Promise.all([200, 210, 220, 230].map((grey) => solid(`bright-${grey}.png`, grey)));
  const dark = await Promise.all([10, 20].map((grey) => solid(`dark-${grey}.png`, grey)));
  const items = [bright[0]!, bright[1]!, dark[0]!, bright[2]!, dark[1]!, bright[3]!].map((path) => ({ path }));
  const extractor = logMeanExtractor();
  const cache = EmbeddingCache.open({ cacheDir: join(dir, 'cache') });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      await assert.rejects(extractEmbeddings(items, extractor, { cache, device: 'cpu', batchSize: 3 }), (error: unknown) => {
        assert.ok(error instanceof FinetuneError);
        assert.equal(error.code, 'INFERENCE_FAILED');
        assert.match(error.message, /Backbone "log-mean\.onnx" cut at "features" \(pooling none\) produced non-finite features/);
        // First run: batch [bright-200, bright-210, dark-10]. The rerun hits the two cached rows, so its first
        // batch is [dark-10, bright-220, dark-20].
        assert.match(error.message, attempt === 0 ? /for 1 of the 3 images in a batch: ".*dark-10\.png"\./
          : /for 2 of the 3 images in a batch: ".*dark-10\.png", ".*dark-20\.png"\./);
        assert.match(error.hint ?? '', /--layer/);
        return true;
      });
    }
    // The finite rows of the failing batches are cached; nothing non-finite is.
    const key = extractorKey(extractor.spec);
    const stored = cache.getMany(key, cache.imageShas(key));
    assert.equal(stored.size, 3, 'bright-200, bright-210 (first run) and bright-220 (rerun)');
    for (const vector of stored.values()) assert.ok(vector.every(Number.isFinite));
  } finally {
    cache.close();
  }
});
