/**
 * Does augmentation help a small training set? Held-out accuracy of the default recipe with and without
 * `--augment flip,crop --augment-views 4`, on real MobileNetV2-int8 features (../shared/zoo, served on 127.0.0.1 as
 * the zoo mirror) of three Fashion-MNIST classes: 20 labelled images per class from the train split (the default
 * 0.2 validation split leaves 16 for training), tested on 100 t10k images per class, over 5 seeds.
 *
 * What varies with the seed: the run's `--seed` (split, initialisation, shuffling and the per-epoch view draw). The
 * augmentation seed stays fixed (0, the default), so each image's views are embedded once and reused by every seed;
 * the plain and augmented runs of one seed share the same split, so the comparison is paired.
 *
 *   npx tsx scripts/experiments/augment.ts [classes, default 0,2,6] [seeds, default 1,2,3,4,5] [augment, default flip,crop] [views, default 4]
 *     [fixed epochs: train exactly this many epochs without early stopping; default: the default early stopping]
 *
 * Needs ../shared/zoo and Debian's dataset-fashion-mnist. Everything is written to a temp dir (FINETUNE_HOME, the
 * embedding cache, the run folders) and removed at the end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serveMirror } from '../../src/registry/serve-mirror.js';
import { runFinetune } from '../../src/workflows/run-finetune.js';
import type { RunFinetuneResult } from '../../src/workflows/run-finetune.js';
import { writeFashionMnistFolder } from '../../test/helpers/images.js';
import { FASHION_CLASS_NAMES } from '../../test/helpers/shared.js';

const classes = (process.argv[2] ?? '0,2,6').split(',').map(Number);
const seeds = (process.argv[3] ?? '1,2,3,4,5').split(',').map(Number);
const augment = process.argv[4] ?? 'flip,crop';
const views = Number(process.argv[5] ?? 4);
const fixedEpochs = process.argv[6] === undefined ? null : Number(process.argv[6]);
const perClass = 20, testPerClass = 100;

const dir = await mkdtemp(join(tmpdir(), 'finetune-augment-exp-'));
process.env['FINETUNE_HOME'] = join(dir, 'home');
const zoo = await serveMirror(resolve(new URL('../../..', import.meta.url).pathname, 'shared', 'zoo'));
const started = performance.now();
try {
  await writeFashionMnistFolder(join(dir, 'train'), classes, perClass, { split: 'train' });
  await writeFashionMnistFolder(join(dir, 'test'), classes, testPerClass, { split: 't10k' });
  const run = (seed: number, withAugment: boolean): Promise<RunFinetuneResult> => runFinetune({
    backbone: 'mobilenetv2-int8', data: join(dir, 'train'), test: join(dir, 'test'), classes: classes.length, seed,
    mirror: zoo.url, home: join(dir, 'home'), cacheDir: join(dir, 'cache'), out: join(dir, `run-${seed}-${withAugment ? 'aug' : 'plain'}`),
    export: 'head', device: 'cpu', folds: 1, ...(withAugment ? { augment, augmentViews: views } : {}),
    ...(fixedEpochs === null ? {} : { train: { epochs: fixedEpochs, earlyStopping: null } }),
  });
  const plain: number[] = [], augmented: number[] = [];
  const rows: string[] = [];
  for (const seed of seeds) {
    const a = await run(seed, false);
    const b = await run(seed, true);
    plain.push(a.test!.accuracy);
    augmented.push(b.test!.accuracy);
    rows.push(`| ${seed} | ${pct(a.test!.accuracy)} | ${pct(b.test!.accuracy)} | ${pct(b.test!.accuracy - a.test!.accuracy)} | ` +
      `${a.fit!.stoppedEpoch} / ${b.fit!.stoppedEpoch} | ${b.augmentation!.computed} / ${b.augmentation!.cacheHits} | ${b.augmentation!.seconds.toFixed(1)} |`);
    process.stderr.write(`seed ${seed}: plain ${pct(a.test!.accuracy)}%, augmented ${pct(b.test!.accuracy)}%\n`);
  }
  const differences = augmented.map((value, i) => value - plain[i]!);
  process.stdout.write(`classes: ${classes.map((c) => FASHION_CLASS_NAMES[c]).join(', ')}; ${perClass} labelled images/class ` +
    `(default 0.2 validation split), ${testPerClass} t10k test images/class; augmentation "${augment}", ${views} views, augment seed 0; ` +
    `${fixedEpochs === null ? 'default early stopping (valLoss, patience 5, restore best)' : `${fixedEpochs} epochs, no early stopping`}\n\n`);
  process.stdout.write('| seed | test acc % plain | test acc % augmented | difference (points) | stopped epoch plain / aug | views computed / cached | views s |\n' +
    `|---|---|---|---|---|---|---|\n${rows.join('\n')}\n\n`);
  process.stdout.write(`plain:     ${summary(plain)}\naugmented: ${summary(augmented)}\ndifference (paired): ${summary(differences)}\n`);
  process.stdout.write(`wall time: ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
} finally {
  await zoo.close();
  await rm(dir, { recursive: true, force: true });
}

function pct(value: number): string {
  return (value * 100).toFixed(1);
}

/** Mean ± sample standard deviation (n − 1), in percent. */
function summary(values: readonly number[]): string {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const std = values.length > 1 ? Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1)) : 0;
  return `${pct(mean)}% ± ${pct(std)}% (mean ± sample std over ${values.length} seeds)`;
}
