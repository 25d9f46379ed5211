/**
 * End to end with the real pretrained MobileNetV2-int8 from ../shared, pulled through the zoo registry from a mirror
 * on 127.0.0.1, on three Fashion-MNIST classes: train + export + parity, then evaluate and predict on the exported
 * file, and a second run that is served entirely from the embedding cache.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmbeddingCache } from '../../src/embed/embedding-cache.js';
import { extractEmbeddings } from '../../src/embed/extract-embeddings.js';
import { argmaxRows } from '../../src/train/metrics.js';
import { predictProbabilities } from '../../src/train/predict-probabilities.js';
import { evaluate } from '../../src/workflows/evaluate.js';
import { prepareBackbone } from '../../src/workflows/prepare-backbone.js';
import { predict } from '../../src/workflows/predict.js';
import { runFinetune } from '../../src/workflows/run-finetune.js';
import type { RunFinetuneResult } from '../../src/workflows/run-finetune.js';
import { writeFashionMnistFolder } from '../helpers/images.js';
import { skipWithoutFashionMnist, skipWithoutShared } from '../helpers/shared.js';
import { startZooServer } from '../helpers/zoo-server.js';
import type { MirrorServer } from '../helpers/zoo-server.js';

const skip = skipWithoutShared || skipWithoutFashionMnist;
const CLASSES = [0, 1, 7]; // t-shirt, trouser, sneaker

describe('finetune on Fashion-MNIST with the zoo MobileNetV2-int8', { skip }, () => {
  let dir: string;
  let zoo: MirrorServer;
  let run: RunFinetuneResult;
  const common = () => ({ home: join(dir, 'home'), cacheDir: join(dir, 'cache'), mirror: zoo.url, device: 'cpu' as const });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'finetune-fashion-'));
    zoo = await startZooServer();
    await writeFashionMnistFolder(join(dir, 'train'), CLASSES, 30, { split: 'train' });
    await writeFashionMnistFolder(join(dir, 'holdout'), CLASSES, 20, { split: 't10k' });
    run = await runFinetune({
      ...common(), backbone: 'mobilenetv2-int8', data: join(dir, 'train'), classes: 3, test: join(dir, 'holdout'),
      out: join(dir, 'run'), seed: 1, folds: 1,
    });
  });
  after(async () => {
    await zoo?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves the backbone through the registry and writes every run file', async () => {
    assert.equal(run.backbone.id, 'mobilenetv2-12-int8');
    assert.equal(run.backbone.sha256, 'cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f');
    assert.equal(run.backbone.featureTensor, '464_quantized');
    assert.equal(run.backbone.embeddingDim, 1280);
    assert.ok(zoo.requests.some((request) => request.path.endsWith('mobilenetv2-12-int8.onnx') && request.status === 200));
    for (const name of ['model.onnx', 'head.onnx', 'labels.json', 'history.json', 'history.csv', 'metrics.json', 'skipped.txt', 'run.json', 'report.html']) {
      assert.ok(existsSync(join(dir, 'run', name)), `${name} is missing`);
    }
    const manifest = JSON.parse(await readFile(join(dir, 'run', 'run.json'), 'utf8'));
    assert.equal(manifest.backbone.sha256, run.backbone.sha256);
    assert.equal(manifest.split.validationFiles.length, run.validation!.n);
    assert.match(manifest.data.fingerprint, /^[0-9a-f]{64}$/);
    assert.match(manifest.versions['onnxruntime-node'], /^\d+\.\d+\.\d+/);
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'run', 'labels.json'), 'utf8')).classNames, ['sneaker', 'trouser', 'tshirt']);
  });

  it('learns the task and passes the parity check', () => {
    assert.ok(run.validation!.accuracy >= 0.8, `validation accuracy ${run.validation!.accuracy}`);
    assert.ok(run.test!.accuracy >= 0.8, `test accuracy ${run.test!.accuracy}`);
    assert.ok(run.parity !== null && run.parity.nodeOk && run.parity.maxAbsDiff <= 1e-4, run.parity?.summary);
    assert.notEqual(run.parity!.webStatus, 'failed', run.parity!.summary);
  });

  it('evaluate on the held-out folder agrees with the run\'s test metrics', async () => {
    const report = await evaluate(run.files['model']!, join(dir, 'holdout'), { device: 'cpu' });
    assert.equal(report.n, run.test!.n);
    assert.ok(Math.abs(report.accuracy - run.test!.accuracy) <= 1 / report.n + 1e-9, `${report.accuracy} vs ${run.test!.accuracy}`);
  });

  it('predict gives the trainer\'s class for every validation image', async () => {
    const manifest = JSON.parse(await readFile(join(dir, 'run', 'run.json'), 'utf8'));
    const validationPaths: string[] = manifest.split.validationFiles.map((relative: string) => join(dir, 'train', relative));
    const backbone = await prepareBackbone('mobilenetv2-int8', common());
    const cache = EmbeddingCache.open({ cacheDir: join(dir, 'cache') });
    try {
      const features = await extractEmbeddings(validationPaths.map((path) => ({ path })), backbone.extractor, { cache, device: 'cpu' });
      assert.equal(features.computed, 0, 'validation embeddings come from the cache');
      const trainer = argmaxRows(predictProbabilities(run.fit!.head, features.features, validationPaths.length), 3);
      const predictions = await predict(run.files['model']!, validationPaths, { device: 'cpu', top: 1 });
      predictions.forEach((prediction, row) => assert.equal(prediction.top[0]!.className, run.classNames[trainer[row]!], prediction.path));
    } finally {
      cache.close();
    }
  });

  it('the same seed and data reproduce the run bit for bit (from run.json alone)', async () => {
    const manifest = JSON.parse(await readFile(join(dir, 'run', 'run.json'), 'utf8'));
    const again = await runFinetune({
      ...common(), backbone: 'mobilenetv2-int8', data: join(dir, 'train'), classes: 3, out: join(dir, 'run-repro'),
      seed: manifest.split.seed, folds: 1, validationSplit: manifest.split.validationSplit, export: 'head',
    });
    const repro = JSON.parse(await readFile(join(dir, 'run-repro', 'run.json'), 'utf8'));
    assert.equal(repro.data.fingerprint, manifest.data.fingerprint);
    assert.equal(repro.split.validationSha256, manifest.split.validationSha256);
    const strip = (history: readonly Record<string, number>[]) => history.map(({ seconds: _seconds, ...rest }) => rest);
    assert.deepEqual(strip(again.fit!.history as never), strip(run.fit!.history as never));
    assert.deepEqual([...again.fit!.head.layers[0]!.kernel], [...run.fit!.head.layers[0]!.kernel]);
  });

  it('a second run does no backbone work', async () => {
    const again = await runFinetune({
      ...common(), backbone: 'mobilenetv2-int8', data: join(dir, 'train'), classes: 3, out: join(dir, 'run2'), export: 'head',
      train: { learningRate: 3e-4 },
    });
    assert.equal(again.cache.computed, 0);
    assert.equal(again.cache.backboneBatches, 0);
    assert.equal(again.cache.hits, 90);
  });
});
