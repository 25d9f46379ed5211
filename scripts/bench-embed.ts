/**
 * Embedding throughput, on one machine in one run:
 *  1. raw onnxruntime-node throughput of the cut backbone on pre-made input tensors (no decode, no cache);
 *  2. end-to-end extractEmbeddings: JPEG files → hashed → decoded/preprocessed → backbone → a fresh cache;
 *  3. the same extraction again (every image a cache hit).
 * Prints images/s for 1 and 2, their ratio (target ≥ 0.9: decode and caching hidden behind inference) and the
 * second run's time as a fraction of the first. Uses the real mobilenetv2-12-int8 from ../shared when present,
 * else a seeded ResNet-like test backbone.
 *
 * Usage: npx tsx scripts/bench-embed.ts [--images 192] [--batch-size 32] [--device auto|cpu|cuda] [--json]
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writePhotoJpegs } from './lib/photo-jpegs.js';
import { EmbeddingCache } from '../src/embed/embedding-cache.js';
import { extractEmbeddings, type FeatureExtractor } from '../src/embed/extract-embeddings.js';
import { IMAGENET_SPEC } from '../src/image/preprocess-spec.js';
import { cutBackbone } from '../src/onnx/cut-backbone.js';
import { readModel } from '../src/onnx/read-model.js';
import { buildResnetBackbone } from '../src/onnx/test-backbones.js';
import { encodeModel } from '../src/onnx/write-model.js';
import { createSession } from '../src/runtime/session.js';
import type { Device, PreprocessSpec } from '../src/types.js';
import { sha256, sha256File } from '../src/util/hash.js';

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] ?? fallback : fallback;
}
const numImages = Number(flag('images', '192'));
const device = flag('device', 'auto') as Device;
const asJson = process.argv.includes('--json');
const log = (line: string): void => { if (!asJson) process.stderr.write(`${line}\n`); };

const mobilenetPath = resolve(new URL('..', import.meta.url).pathname, '..', 'shared', 'zoo', 'validated', 'vision',
  'classification', 'mobilenet', 'model', 'mobilenetv2-12-int8.onnx');

async function loadExtractor(): Promise<{ name: string; extractor: FeatureExtractor }> {
  if (existsSync(mobilenetPath)) {
    const cut = cutBackbone(await readModel(mobilenetPath));
    return {
      name: 'mobilenetv2-12-int8 (../shared), cut at ' + cut.featureTensor,
      extractor: { modelBytes: encodeModel(cut.model), inputName: cut.inputName, embeddingDim: cut.embeddingDim,
        spec: { backboneSha256: await sha256File(mobilenetPath), layer: cut.featureTensor, pooling: cut.pooling, preprocess: IMAGENET_SPEC } },
    };
  }
  const backbone = buildResnetBackbone({ inputSize: 64, width: 32 });
  const cut = cutBackbone(backbone.model);
  const preprocess: PreprocessSpec = { ...IMAGENET_SPEC, resizeSize: 72, cropSize: 64 };
  const original = encodeModel(backbone.model);
  return {
    name: 'ResNet-like test backbone (64×64, ../shared absent)',
    extractor: { modelBytes: encodeModel(cut.model), inputName: cut.inputName, embeddingDim: cut.embeddingDim,
      spec: { backboneSha256: sha256(original), layer: cut.featureTensor, pooling: cut.pooling, preprocess } },
  };
}

/** Photo-like JPEGs, 320×240 and 240×320. */
function writeJpegs(dir: string, count: number): Promise<string[]> {
  return writePhotoJpegs(count, (i) => join(dir, `photo-${String(i).padStart(5, '0')}.jpg`), { mixOrientation: true });
}

async function rawThroughput(extractor: FeatureExtractor, batchSize: number, images: number):
  Promise<{ imagesPerSecond: number; provider: string; loadSeconds: number }> {
  const crop = extractor.spec.preprocess.cropSize;
  const imageSize = 3 * crop * crop;
  const dims = extractor.spec.preprocess.layout === 'NCHW' ? [batchSize, 3, crop, crop] : [batchSize, crop, crop, 3];
  const tensor = new Float32Array(batchSize * imageSize);
  for (let i = 0; i < tensor.length; i++) tensor[i] = Math.sin(i * 0.37) * 1.5;
  const loadStart = performance.now();
  const session = await createSession(extractor.modelBytes, { device });
  const loadSeconds = (performance.now() - loadStart) / 1000;
  await session.runFloat(extractor.inputName, tensor, dims);   // warm-up
  const batches = Math.ceil(images / batchSize);
  const start = performance.now();
  for (let b = 0; b < batches; b++) await session.runFloat(extractor.inputName, tensor, dims);
  const seconds = (performance.now() - start) / 1000;
  const provider = session.provider;
  await session.release();
  return { imagesPerSecond: (batches * batchSize) / seconds, provider, loadSeconds };
}

const { name, extractor } = await loadExtractor();
const batchSize = Number(flag('batch-size', String(32)));
const dir = await mkdtemp(join(tmpdir(), 'finetune-bench-embed-'));
try {
  log(`model: ${name}, embeddingDim ${extractor.embeddingDim}, batch ${batchSize}, ${numImages} JPEGs`);
  log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} logical cores, node ${process.version}`);
  const paths = await writeJpegs(join(dir, 'images'), numImages);
  const items = paths.map((path) => ({ path }));

  // Warm the decode path and the page cache once (not timed): an uncached extraction into a throwaway store.
  const warm = EmbeddingCache.open({ cacheDir: join(dir, 'warm') });
  await extractEmbeddings(items.slice(0, batchSize), extractor, { cache: warm, device, batchSize });
  warm.close();

  // Raw throughput is measured before and after the extraction and averaged, so drift on a shared machine shows.
  const rawBefore = await rawThroughput(extractor, batchSize, numImages);

  const cache = EmbeddingCache.open({ cacheDir: join(dir, 'cache') });
  const first = await extractEmbeddings(items, extractor, { cache, device, batchSize });
  const endToEnd = first.computed / first.seconds;
  log(`end-to-end extractEmbeddings (${first.provider}): ${endToEnd.toFixed(1)} images/s ` +
    `(${first.computed} images in ${first.seconds.toFixed(2)} s incl. session load, ${first.backboneBatches} batches)`);
  const second = await extractEmbeddings(items, extractor, { cache, device, batchSize });
  cache.close();
  const rawAfter = await rawThroughput(extractor, batchSize, numImages);
  const raw = { ...rawBefore, imagesPerSecond: (rawBefore.imagesPerSecond + rawAfter.imagesPerSecond) / 2 };
  log(`raw onnxruntime-node (${raw.provider}): ${raw.imagesPerSecond.toFixed(1)} images/s ` +
    `(before ${rawBefore.imagesPerSecond.toFixed(1)}, after ${rawAfter.imagesPerSecond.toFixed(1)}; session load ${raw.loadSeconds.toFixed(2)} s, not counted)`);
  const ratio = endToEnd / raw.imagesPerSecond;
  const rerunFraction = second.seconds / first.seconds;
  log(`ratio end-to-end / raw: ${ratio.toFixed(3)} (target ≥ 0.9)`);
  log(`second run: ${second.cacheHits} cache hits, ${second.backboneBatches} batches, ${second.seconds.toFixed(3)} s = ` +
    `${(rerunFraction * 100).toFixed(1)}% of the first`);
  if (asJson) {
    process.stdout.write(`${JSON.stringify({
      model: name, batchSize, images: numImages, cores: availableParallelism(), provider: first.provider,
      rawImagesPerSecond: raw.imagesPerSecond, endToEndImagesPerSecond: endToEnd, ratio,
      firstRunSeconds: first.seconds, secondRunSeconds: second.seconds, rerunFraction,
    })}\n`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
