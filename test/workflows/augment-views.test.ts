import assert from 'node:assert/strict';
import { readFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { EmbeddingCache, extractorKey } from '../../src/embed/embedding-cache.js';
import { FinetuneError } from '../../src/errors.js';
import { augmentedRgb, parseAugmentSpec } from '../../src/image/augment.js';
import { normalizePixels } from '../../src/image/preprocess-image.js';
import { createSession } from '../../src/runtime/session.js';
import type { ProgressEvent } from '../../src/types.js';
import { sha256 } from '../../src/util/hash.js';
import { augmentVariant, embedAugmentedViews } from '../../src/workflows/augment-views.js';
import { runFinetune } from '../../src/workflows/run-finetune.js';
import { TINY_PREPROCESS, tinyExtractor, writeImages } from '../embed/fixtures/embed-fixtures.js';
import { writeTestBackbone } from './shard-fixtures.js';
import { cacheStats } from '../../src/embed/cache-admin.js';

let dir: string;
let images: string[];
let backbonePath: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-augment-'));
  images = await writeImages(join(dir, 'images'), 6, { size: 14 });
  backbonePath = await writeTestBackbone(join(dir, 'backbone.onnx'));
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

const items = (): Array<{ path: string }> => images.map((path) => ({ path }));

describe('embedAugmentedViews', () => {
  it('embeds K seeded views once; a rerun is all cache hits; more views or another spec compute only what is new', async () => {
    const cache = EmbeddingCache.open({ cacheDir: join(dir, 'cache-views') });
    try {
      const extractor = tinyExtractor();
      const augment = parseAugmentSpec('flip,crop,color');
      const events: ProgressEvent[] = [];
      const first = await embedAugmentedViews(items(), extractor, { augment, views: 3, seed: 5, cache, device: 'cpu', onProgress: (e) => events.push(e) });
      assert.equal(first.computed, 6 * 3);
      assert.equal(first.cacheHits, 0);
      assert.equal(first.okMask.every((ok) => ok === 1), true);
      assert.equal(first.viewFeatures.length, 6 * 3 * 16);
      assert.deepEqual(first.variants, [1, 2, 3].map((v) => augmentVariant(augment, 5, v)));
      const key = extractorKey(extractor.spec);
      for (const variant of first.variants) assert.equal(cache.count(key, { variant }), 6);
      assert.equal(cache.count(key), 0, 'no original (variant "") was computed');
      // Progress counts views: one start, one done, total = images × views.
      const embed = events.filter((e): e is Extract<ProgressEvent, { stage: 'embed' }> => e.stage === 'embed');
      assert.deepEqual([embed[0]?.status, embed.at(-1)?.status], ['start', 'done']);
      assert.equal(embed.filter((e) => e.status === 'start').length, 1);
      assert.deepEqual([embed.at(-1)!.done, embed.at(-1)!.total, embed.at(-1)!.computed], [18, 18, 18]);
      assert.ok(embed.every((e, i) => i === 0 || e.done >= embed[i - 1]!.done), 'done never goes back');

      // View v of image i is the backbone applied to augmentedRgb(image, v) — checked for image 4, view 2.
      const session = await createSession(extractor.modelBytes, { device: 'cpu' });
      const view = await augmentedRgb(images[4]!, TINY_PREPROCESS, augment, 2, 5);
      const expected = (await session.runFloat('input', normalizePixels(view.data, TINY_PREPROCESS), [1, 3, 8, 8]))['features']!.data;
      const original = await augmentedRgb(images[4]!, TINY_PREPROCESS, augment, 0, 5);
      const originalFeatures = (await session.runFloat('input', normalizePixels(original.data, TINY_PREPROCESS), [1, 3, 8, 8]))['features']!.data;
      await session.release();
      const row = first.viewFeatures.subarray((4 * 3 + 1) * 16, (4 * 3 + 2) * 16);
      for (let i = 0; i < 16; i++) assert.ok(Math.abs(row[i]! - expected[i]!) < 1e-4, `feature ${i}: ${row[i]} vs ${expected[i]}`);
      assert.ok(row.some((value, i) => Math.abs(value - originalFeatures[i]!) > 1e-3), 'a view differs from the original');
      assert.equal(first.imageShas[4], sha256(await readFile(images[4]!)));

      const rerun = await embedAugmentedViews(items(), extractor, { augment, views: 3, seed: 5, cache, device: 'cpu' });
      assert.deepEqual([rerun.computed, rerun.cacheHits, rerun.backboneBatches, rerun.provider], [0, 18, 0, null]);
      assert.deepEqual(rerun.viewFeatures, first.viewFeatures);

      const moreViews = await embedAugmentedViews(items(), extractor, { augment, views: 5, seed: 5, cache, device: 'cpu' });
      assert.deepEqual([moreViews.computed, moreViews.cacheHits], [6 * 2, 18]);
      assert.deepEqual(moreViews.viewFeatures.subarray(0, 16 * 3), first.viewFeatures.subarray(0, 16 * 3), 'views 1..3 of image 0 unchanged');

      const otherSpec = parseAugmentSpec('flip,rotate');
      const changed = await embedAugmentedViews(items(), extractor, { augment: otherSpec, views: 3, seed: 5, cache, device: 'cpu' });
      assert.deepEqual([changed.computed, changed.cacheHits], [18, 0]);
      const otherSeed = await embedAugmentedViews(items(), extractor, { augment, views: 3, seed: 6, cache, device: 'cpu' });
      assert.deepEqual([otherSeed.computed, otherSeed.cacheHits], [18, 0]);
      const back = await embedAugmentedViews(items(), extractor, { augment, views: 3, seed: 5, cache, device: 'cpu' });
      assert.deepEqual([back.computed, back.cacheHits], [0, 18], 'the first spec\'s views are still cached');
    } finally {
      cache.close();
    }
  });

  it('checks views and the spec before any work', async () => {
    const cache = EmbeddingCache.open({ cacheDir: join(dir, 'cache-bad') });
    try {
      const augment = parseAugmentSpec('flip');
      for (const [options, pattern] of [
        [{ augment, views: 0 }, /--augment-views must be an integer in \[1, 64\], got 0/],
        [{ augment, views: 2.5 }, /--augment-views/],
        [{ augment, seed: 0.5 }, /--augment-seed must be an integer/],
        [{ augment: parseAugmentSpec('none') }, /changes nothing/],
      ] as const) {
        await assert.rejects(embedAugmentedViews(items(), tinyExtractor(), { ...options, cache, device: 'cpu' }),
          (error: unknown) => error instanceof FinetuneError && error.code === 'INVALID_OPTION' && pattern.test(error.message));
      }
      assert.equal(cacheStats(cache).vectors, 0);
    } finally {
      cache.close();
    }
  });
});

/** 3 classes × `perClass` generated images (distinct sizes and content) in class folders. */
async function writeDataset(root: string, perClass: number): Promise<void> {
  for (const [classIndex, className] of ['ant', 'bee', 'cat'].entries()) {
    await mkdir(join(root, className), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const n = classIndex * perClass + i, width = 18 + (n % 4), height = 18 + ((n >> 1) % 3);
      const pixels = Buffer.alloc(width * height * 3);
      for (let p = 0; p < pixels.length; p++) pixels[p] = ((p % 3) * 60 * classIndex + ((p * (n + 3)) % 29) * 5 + n * 11) & 0xff;
      await writeFile(join(root, className, `${className}-${i}.png`), await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer());
    }
  }
}

describe('runFinetune with --augment', () => {
  it('augments training images only: no view of a validation image is computed or read, and run.json records the spec', async () => {
    const data = join(dir, 'leak-data');
    await writeDataset(data, 8);
    const cacheDir = join(dir, 'cache-leak');
    const base = {
      backbone: backbonePath, data, cacheDir, device: 'cpu' as const, export: 'head' as const, folds: 1, validationSplit: 0.25,
      augment: 'flip,crop', augmentViews: 2, augmentSeed: 3, train: { epochs: 3 },
    };
    const splitOf = async (runDir: string): Promise<{ train: Set<string>; validation: Set<string>; extractor: string; manifest: Record<string, any> }> => {
      const manifest = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8')) as Record<string, any>;
      const validationFiles = new Set<string>(manifest['split'].validationFiles);
      const train = new Set<string>(), validation = new Set<string>();
      for (const className of ['ant', 'bee', 'cat']) {
        for (let i = 0; i < 8; i++) {
          const relative = `${className}/${className}-${i}.png`;
          (validationFiles.has(relative) ? validation : train).add(sha256(await readFile(join(data, relative))));
        }
      }
      return { train, validation, extractor: manifest['cache'].extractorKey, manifest };
    };
    const variants = [1, 2].map((v) => augmentVariant(parseAugmentSpec('flip,crop'), 3, v));
    const viewShas = (extractor: string): Array<Set<string>> => {
      const cache = EmbeddingCache.open({ cacheDir, readonly: true });
      try { return variants.map((variant) => new Set(cache.imageShas(extractor, { variant }))); } finally { cache.close(); }
    };

    const first = await runFinetune({ ...base, seed: 1, out: join(dir, 'run-leak-1') });
    const split1 = await splitOf(first.runDir);
    assert.equal(split1.train.size, 18);
    assert.equal(split1.validation.size, 6);
    // In a fresh cache, the views stored are exactly those of the training images.
    for (const shas of viewShas(split1.extractor)) assert.deepEqual([...shas].sort(), [...split1.train].sort());
    assert.deepEqual(first.augmentation && [first.augmentation.trainImages, first.augmentation.computed, first.augmentation.cacheHits], [18, 36, 0]);
    const recorded = split1.manifest['augmentation'];
    assert.deepEqual(recorded.spec, parseAugmentSpec('flip,crop'));
    assert.deepEqual([recorded.views, recorded.seed, recorded.cacheHits, recorded.computed, recorded.variants], [2, 3, 0, 36, variants]);
    assert.equal(recorded.description, 'flip p=0.5, crop scale 0.5–1 ratio 0.75–1.33');

    // Another split seed: some of run 1's training images (whose views are cached) are now validation images.
    // Only views of run 2's training images are requested: hits are exactly the ones it shares with run 1.
    const second = await runFinetune({ ...base, seed: 2, out: join(dir, 'run-leak-2') });
    const split2 = await splitOf(second.runDir);
    const shared = [...split2.train].filter((sha) => split1.train.has(sha)).length;
    const movedToValidation = [...split2.validation].filter((sha) => split1.train.has(sha)).length;
    assert.ok(movedToValidation > 0, 'the second split must move a cached training image into validation');
    assert.deepEqual([second.augmentation!.cacheHits, second.augmentation!.computed], [2 * shared, 2 * (18 - shared)]);
    for (const shas of viewShas(split2.extractor)) assert.deepEqual([...shas].sort(), [...new Set([...split1.train, ...split2.train])].sort());

    // The same run again: no backbone work at all, originals or views.
    const third = await runFinetune({ ...base, seed: 2, out: join(dir, 'run-leak-3') });
    assert.deepEqual([third.cache.computed, third.augmentation!.computed, third.augmentation!.cacheHits], [0, 0, 36]);
    const withoutTime = (result: typeof second) => result.fit!.history.map(({ seconds: _seconds, ...logs }) => logs);
    assert.deepEqual(withoutTime(third), withoutTime(second));
    const weights = (result: typeof second) => result.fit!.head.layers.flatMap((layer) => [...layer.kernel]);
    assert.deepEqual(weights(third), weights(second), 'same seeds → same head');

    // Without --augment nothing is recorded.
    const plain = await runFinetune({ ...base, augment: null, augmentViews: undefined, augmentSeed: undefined, seed: 2, out: join(dir, 'run-leak-4') });
    assert.equal(plain.augmentation, null);
    assert.equal((await splitOf(plain.runDir)).manifest['augmentation'], null);
  });

  it('fails before any backbone work on augmentation flags without a spec, or a bad spec', async () => {
    const data = join(dir, 'leak-data');
    const base = { backbone: join(dir, 'no-such-backbone.onnx'), data, cacheDir: join(dir, 'cache-none'), device: 'cpu' as const, export: 'head' as const };
    await assert.rejects(runFinetune({ ...base, augmentViews: 4 }),
      (error: unknown) => error instanceof FinetuneError && error.code === 'INVALID_OPTION' && /without an augmentation spec/.test(error.message));
    await assert.rejects(runFinetune({ ...base, augment: 'flip,zoom' }),
      (error: unknown) => error instanceof FinetuneError && error.code === 'INVALID_OPTION' && /Unknown --augment item "zoom"/.test(error.message));
  });
});
