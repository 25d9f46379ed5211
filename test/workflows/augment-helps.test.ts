/**
 * Augmentation measurably helps where it should: a synthetic task where flips matter. The label is whether a white
 * square sits in the top or the bottom of the image; every training image has it on the left, every test image on
 * the right (mirror images of the training distribution). A head trained on the originals' position-sensitive
 * features is near chance on the test set; with `--augment flip` views it sees mirrored squares too.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import sharp from 'sharp';
import { buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { writeModel } from '../../src/onnx/write-model.js';
import { Rng } from '../../src/util/rng.js';
import { runFinetune } from '../../src/workflows/run-finetune.js';

const SIZE = 18;   // the backbone's spec resizes the shorter side to 18 and center-crops 16: no resampling, exact flips
let dir: string;
let backbone: string;

async function squareImage(path: string, rng: Rng, top: boolean, right: boolean): Promise<void> {
  const pixels = Buffer.alloc(SIZE * SIZE * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = 40 + rng.nextInt(30);
  const left = 1 + rng.nextInt(3), upper = top ? 1 + rng.nextInt(3) : 10 + rng.nextInt(3);
  for (let y = upper; y < upper + 5; y++)
    for (let x = left; x < left + 5; x++) pixels.fill(230, (y * SIZE + (right ? SIZE - 1 - x : x)) * 3, (y * SIZE + (right ? SIZE - 1 - x : x)) * 3 + 3);
  await writeFile(path, await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toBuffer());
}

async function writeFolder(root: string, perClass: number, seed: number, right: boolean): Promise<void> {
  const rng = new Rng(seed);
  for (const [classIndex, className] of ['top', 'bottom'].entries()) {
    await mkdir(join(root, className), { recursive: true });
    for (let i = 0; i < perClass; i++) await squareImage(join(root, className, `${className}-${i}.png`), rng, classIndex === 0, right);
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-augment-helps-'));
  await writeFolder(join(dir, 'train'), 20, 1, false);
  await writeFolder(join(dir, 'test'), 30, 2, true);
  backbone = join(dir, 'vgg.onnx');
  await writeModel(backbone, buildVggBackbone({ inputSize: 16, width: 8, hiddenDim: 256, seed: 1 }).model);
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

it('flip views raise held-out accuracy on mirrored test images from about chance to well above it', async () => {
  const accuracies: Record<'plain' | 'flip', number[]> = { plain: [], flip: [] };
  for (const seed of [1, 2]) {
    for (const mode of ['plain', 'flip'] as const) {
      const result = await runFinetune({
        backbone, data: join(dir, 'train'), test: join(dir, 'test'), cacheDir: join(dir, 'cache'), device: 'cpu', export: 'head',
        seed, out: join(dir, `run-${mode}-${seed}`), train: { epochs: 40 },
        ...(mode === 'flip' ? { augment: 'flip', augmentViews: 4 } : {}),
      });
      accuracies[mode].push(result.test!.accuracy);
      if (mode === 'flip') assert.equal(result.augmentation!.views, 4);
    }
  }
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  const report = `plain ${accuracies.plain.join(', ')} vs flip ${accuracies.flip.join(', ')}`;
  assert.ok(mean(accuracies.plain) <= 0.7, `without augmentation the mirrored test set should be near chance: ${report}`);
  assert.ok(mean(accuracies.flip) >= 0.8, report);
  assert.ok(mean(accuracies.flip) - mean(accuracies.plain) >= 0.25, report);
});
