import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { exportClassifier } from '../../src/export/export-classifier.js';
import { flipHorizontally } from '../../src/export/image-batch.js';
import { writeExportedModel } from '../../src/export/write-exported-model.js';
import { buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { denseConfusion } from '../../src/train/metrics.js';
import { evaluate } from '../../src/workflows/evaluate.js';
import { predict } from '../../src/workflows/predict.js';
import { cutTestBackbone, randomHead, testSpec } from '../export/fixtures.js';

const SIZE = 32;
const CLASSES = ['a', 'b', 'c'];
let dir: string;
let modelPath: string;
let imagePath: string;
let mirroredPath: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-tta-'));
  const backbone = buildVggBackbone({ inputSize: SIZE, seed: 3 });
  const head = randomHead(backbone.embeddingDim, CLASSES.length, { seed: 11, scale: 0.02 });
  modelPath = join(dir, 'model.onnx');
  await writeExportedModel(modelPath, exportClassifier(cutTestBackbone(backbone), head,
    { classNames: CLASSES, preprocess: testSpec({ resizeMode: 'direct', resizeSize: SIZE, cropSize: SIZE }) }));
  // An asymmetric image exactly at the crop size, and its mirror image: no resampling, so flips are exact.
  const pixels = Buffer.alloc(SIZE * SIZE * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37 + Math.floor(i / 97) * 11) % 256;
  await mkdir(join(dir, 'data', 'a'), { recursive: true });
  imagePath = join(dir, 'data', 'a', 'image.png');
  mirroredPath = join(dir, 'mirrored.png');
  await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(imagePath);
  await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } }).flop().png().toFile(mirroredPath);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('test-time augmentation (--tta)', () => {
  it('averages the probabilities of the image and its mirror image', async () => {
    const [plain] = await predict(modelPath, [imagePath], { device: 'cpu', top: 3 });
    const [mirrored] = await predict(modelPath, [mirroredPath], { device: 'cpu', top: 3 });
    const [averaged] = await predict(modelPath, [imagePath], { device: 'cpu', top: 3, tta: 'flip' });
    const probability = (prediction: typeof plain, name: string) => prediction!.top.find((c) => c.className === name)!.probability;
    let differs = false;
    for (const name of CLASSES) {
      const expected = (probability(plain, name) + probability(mirrored, name)) / 2;
      assert.ok(Math.abs(probability(averaged, name) - expected) < 1e-6, `${name}: ${probability(averaged, name)} vs ${expected}`);
      if (Math.abs(probability(plain, name) - probability(mirrored, name)) > 1e-4) differs = true;
    }
    assert.ok(differs, 'the test image must be asymmetric enough for the flip to change the prediction');
  });

  it('applies to evaluate too: its prediction is the argmax of the averaged probabilities', async () => {
    const [averaged] = await predict(modelPath, [imagePath], { device: 'cpu', top: 1, tta: 'flip' });
    const report = await evaluate(modelPath, join(dir, 'data'), { device: 'cpu', tta: 'flip' });
    const predictedIndex = denseConfusion(report.confusionMatrix)[0]!.findIndex((count) => count === 1);
    assert.equal(CLASSES[predictedIndex], averaged!.top[0]!.className);
  });

  it('flipHorizontally mirrors NHWC and NCHW layouts', () => {
    const nhwc = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]); // 1 image, 2×2, RGB
    flipHorizontally(nhwc, 1, 2, 'NHWC');
    assert.deepEqual([...nhwc], [4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9]);
    const nchw = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]); // 1 image, 3 channels, 2×2
    flipHorizontally(nchw, 1, 2, 'NCHW');
    assert.deepEqual([...nchw], [2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11]);
  });
});
