/**
 * Out-of-core training through runFinetune (issue 18 part 2): a --max-memory below the run's feature bytes streams
 * the features from a file in the run folder, for one split and for cross-fitting, and ends like the in-memory run.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { FinetuneError } from '../../src/errors.js';
import { buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { writeModel } from '../../src/onnx/write-model.js';
import type { ProgressEvent } from '../../src/types.js';
import { STREAMED_FEATURES_DIR } from '../../src/workflows/out-of-core.js';
import { runFinetune } from '../../src/workflows/run-finetune.js';
import type { RunFinetuneOptions } from '../../src/workflows/run-finetune.js';

const IMAGES_PER_CLASS = 30;

/** Three classes of flat colours, each image's colour jittered (seeded): separable through the random test backbone. */
async function makeColourDataset(root: string): Promise<void> {
  const colours = { red: [200, 60, 60], green: [60, 190, 70], blue: [70, 80, 200] } as const;
  let state = 1;
  const jitter = (): number => { state = (state * 16807) % 2147483647; return Math.round((state / 2147483647 - 0.5) * 80); };
  for (const [name, [r, g, b]] of Object.entries(colours)) {
    await mkdir(join(root, name), { recursive: true });
    for (let i = 0; i < IMAGES_PER_CLASS; i++) {
      await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: r + jitter(), g: g + jitter(), b: b + jitter() } } })
        .png().toFile(join(root, name, `${i}.png`));
    }
  }
}

let dir: string;
let base: RunFinetuneOptions;
/** Labelled images × embeddingDim × 4, measured by the first in-memory run. */
let featureBytes = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-ooc-run-'));
  const backbonePath = join(dir, 'backbone.onnx');
  await writeModel(backbonePath, buildVggBackbone({ inputSize: 32, seed: 3 }).model);
  await makeColourDataset(join(dir, 'colours'));
  base = { backbone: backbonePath, data: join(dir, 'colours'), home: join(dir, 'home'), device: 'cpu', export: 'head', duplicateThreshold: null };
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const messagesOf = (events: readonly ProgressEvent[]): string[] =>
  events.flatMap((event) => (event.stage === 'info' || event.stage === 'warn' ? [event.message] : []));

async function run(name: string, options: Partial<RunFinetuneOptions>) {
  const events: ProgressEvent[] = [];
  const out = join(dir, name);
  const result = await runFinetune({ ...base, ...options, out, onProgress: (event) => events.push(event) });
  assert.equal(existsSync(join(out, STREAMED_FEATURES_DIR)), false, 'the feature file is deleted after training');
  return { result, messages: messagesOf(events) };
}

describe('runFinetune with --max-memory (out-of-core)', () => {
  it('one split: streamed from a file when the features exceed the budget, with the in-memory run\'s validation accuracy', async () => {
    const inMemory = await run('memory-1', { folds: 1, train: { epochs: 8 } });
    featureBytes = inMemory.result.classNames.length * IMAGES_PER_CLASS * inMemory.result.backbone.embeddingDim * 4;
    assert.ok(!inMemory.messages.some((message) => /streaming/.test(message)), 'no streaming under the default budget');
    // A budget the features fit exactly: in memory, the same run bit for bit.
    const atBudget = await run('memory-at-budget', { folds: 1, train: { epochs: 8 }, maxMemory: featureBytes });
    assert.ok(!atBudget.messages.some((message) => /streaming/.test(message)));
    const withoutTimes = (history: readonly object[]) => history.map(({ seconds: _seconds, ...logs }: { seconds?: number }) => logs);
    assert.deepEqual(withoutTimes(atBudget.result.fit!.history), withoutTimes(inMemory.result.fit!.history));
    assert.deepEqual(atBudget.result.fit!.head, inMemory.result.fit!.head);

    // A third of the features: windows of a sixth of the rows, so every epoch reads several windows.
    const streamed = await run('streamed-1', { folds: 1, train: { epochs: 8 }, maxMemory: Math.floor(featureBytes / 3) });
    assert.ok(streamed.messages.some((message) => /exceed --max-memory .*: streaming them from a feature file/.test(message)),
      streamed.messages.join(' | '));
    assert.equal(streamed.result.metrics.validation!.n, inMemory.result.metrics.validation!.n);
    assert.equal(streamed.result.fit!.history.length > 0, true);
    // The library's tolerance for multi-window training (test/train/streamed-features.test.ts) is 3 points; on 18
    // validation images one image is 5.6 points, so allow one image.
    const difference = Math.abs(streamed.result.validation!.accuracy - inMemory.result.validation!.accuracy);
    assert.ok(difference <= 1 / streamed.result.validation!.n + 1e-9,
      `validation accuracy ${streamed.result.validation!.accuracy} streamed vs ${inMemory.result.validation!.accuracy} in memory`);
    assert.ok(streamed.result.validation!.accuracy >= 0.9, `streamed accuracy ${streamed.result.validation!.accuracy}`);
  });

  it('cross-fitting: folds over the one file, out-of-fold metrics and the label audit as in memory', async () => {
    const inMemory = await run('memory-cv', { folds: 3, train: { epochs: 6 } });
    const streamed = await run('streamed-cv', { folds: 3, train: { epochs: 6 }, maxMemory: Math.floor(featureBytes / 3), duplicateThreshold: 0.98 });
    assert.ok(streamed.messages.some((message) => /streaming them from a feature file/.test(message)));
    assert.ok(streamed.messages.some((message) => /Near-duplicate search skipped: the training features are streamed/.test(message)));
    assert.equal(streamed.result.nearDuplicates, null);
    const a = streamed.result.crossValidation!, b = inMemory.result.crossValidation!;
    assert.equal(a.n, b.n);
    assert.equal(streamed.result.crossFit!.folds.length, 3);
    // Same folds (seeded by the labels): each fold trains and holds out the same number of images.
    assert.deepEqual(streamed.result.crossFit!.folds.map((fold) => [fold.trainCount, fold.heldOutCount]),
      inMemory.result.crossFit!.folds.map((fold) => [fold.trainCount, fold.heldOutCount]));
    assert.deepEqual([...streamed.result.crossFit!.foldOf], [...inMemory.result.crossFit!.foldOf]);
    assert.ok(Math.abs(a.accuracy - b.accuracy) <= 2 / a.n + 1e-9, `cross-validated accuracy ${a.accuracy} streamed vs ${b.accuracy}`);
    assert.ok(streamed.result.labelIssues !== null);
    assert.ok(existsSync(streamed.result.files.head!));
  });

  it('a budget too small for one row per window buffer fails naming --max-memory; --augment needs the features in memory', async () => {
    await assert.rejects(run('too-small', { folds: 1, train: { epochs: 1 }, maxMemory: 16 }), (error) =>
      error instanceof FinetuneError && error.code === 'INVALID_OPTION' && /--max-memory 16 bytes/.test(error.message) && /Raise --max-memory/.test(error.hint ?? ''));
    // --augment is refused before extraction: no embed progress at all.
    const events: ProgressEvent[] = [];
    await assert.rejects(runFinetune({ ...base, out: join(dir, 'augment'), folds: 1, train: { epochs: 1 }, maxMemory: Math.floor(featureBytes / 3),
      augment: 'flip', onProgress: (event) => events.push(event) }), (error) =>
      error instanceof FinetuneError && error.code === 'INVALID_OPTION' && /--augment needs the training features in memory/.test(error.message)
      && /drop --augment/.test(error.hint ?? ''));
    assert.deepEqual(events.filter((event) => event.stage === 'embed'), []);
    await assert.rejects(run('bad', { maxMemory: -1 }), (error) => error instanceof FinetuneError && /Invalid --max-memory -1/.test(error.message));
  });
});
