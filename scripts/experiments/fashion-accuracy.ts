/**
 * Held-out accuracy of the default recipe (linear head, Adam 1e-3, patience 5, restore best) on real MobileNetV2-int8
 * features of three Fashion-MNIST classes with 100 labelled images per class (80 train / 20 validation), tested on
 * 100 t10k images per class, averaged over 5 seeds (the seed drives the split, initialisation and shuffling).
 *
 *   npx tsx scripts/experiments/fashion-accuracy.ts [classes e.g. 0,1,7] [seeds e.g. 1,2,3,4,5]
 *
 * Needs ../shared/zoo (served on 127.0.0.1 as the zoo mirror) and Debian's dataset-fashion-mnist.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serveMirror } from '../../src/registry/serve-mirror.js';
import { runFinetune } from '../../src/workflows/run-finetune.js';
import { writeFashionMnistFolder } from '../../test/helpers/images.js';
import { FASHION_CLASS_NAMES } from '../../test/helpers/shared.js';

const classes = (process.argv[2] ?? '0,1,7').split(',').map(Number);
const seeds = (process.argv[3] ?? '1,2,3,4,5').split(',').map(Number);
const dir = await mkdtemp(join(tmpdir(), 'finetune-fashion-exp-'));
const zoo = await serveMirror(resolve(new URL('../../..', import.meta.url).pathname, 'shared', 'zoo'));
try {
  await writeFashionMnistFolder(join(dir, 'train'), classes, 100, { split: 'train' });
  await writeFashionMnistFolder(join(dir, 'test'), classes, 100, { split: 't10k' });
  const rows: string[] = [];
  const accuracies: number[] = [];
  for (const seed of seeds) {
    const run = await runFinetune({
      backbone: 'mobilenetv2-int8', data: join(dir, 'train'), test: join(dir, 'test'), classes: classes.length, seed,
      mirror: zoo.url, home: join(dir, 'home'), cacheDir: join(dir, 'cache'), out: join(dir, `run-${seed}`), export: 'head',
      device: 'cpu', folds: 1,
    });
    accuracies.push(run.test!.accuracy);
    rows.push(`| ${seed} | ${run.fit!.bestEpoch} | ${run.fit!.stoppedEpoch} | ${(run.validation!.accuracy * 100).toFixed(1)} | ${(run.test!.accuracy * 100).toFixed(1)} | ${run.cache.computed} |`);
  }
  const mean = accuracies.reduce((a, b) => a + b, 0) / accuracies.length;
  const std = Math.sqrt(accuracies.reduce((a, b) => a + (b - mean) ** 2, 0) / accuracies.length);
  process.stdout.write(`classes: ${classes.map((c) => FASHION_CLASS_NAMES[c]).join(', ')}; 100 labelled images/class (80 train, 20 val), 100 test images/class\n`);
  process.stdout.write(`| seed | best epoch | stopped epoch | val acc % | test acc % | embeddings computed |\n|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
  process.stdout.write(`test accuracy: mean ${(mean * 100).toFixed(2)}% ± ${(std * 100).toFixed(2)}% (population std over ${seeds.length} seeds)\n`);
} finally {
  await zoo.close();
  await rm(dir, { recursive: true, force: true });
}
