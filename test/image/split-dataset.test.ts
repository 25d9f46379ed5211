import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FinetuneError } from '../../src/errors.js';
import type { Dataset, DatasetItem } from '../../src/image/scan-dataset.js';
import { splitDataset } from '../../src/image/split-dataset.js';

/** A dataset built the way scanDataset builds one: items sorted by label, then relative path. */
function makeDataset(counts: Record<string, number>, order: 'sorted' | 'reversed' | 'scrambled' = 'sorted'): Dataset {
  const classNames = Object.keys(counts).sort();
  let items: DatasetItem[] = [];
  classNames.forEach((className, label) => {
    for (let i = 0; i < counts[className]!; i++) {
      const relativePath = `${className}/img-${String(i).padStart(4, '0')}.jpg`;
      items.push({ path: `/data/${relativePath}`, relativePath, label, className });
    }
  });
  if (order === 'reversed') items = items.reverse();
  if (order === 'scrambled') items = items.map((item, i) => ({ item, k: (i * 7919) % 1009 })).sort((a, b) => a.k - b.k).map((x) => x.item);
  return { root: '/data', source: 'folder', classNames, items, skipped: [] };
}

const validationNames = (dataset: Dataset, seed: number, validationSplit = 0.2): string[] =>
  splitDataset(dataset, { seed, validationSplit }).validation.items.map((i) => i.relativePath).sort();

describe('splitDataset', () => {
  it('is stratified with round(n × split) per class, at least 1 validation and 1 training image', () => {
    const dataset = makeDataset({ a: 100, b: 10, c: 2, d: 3, e: 7 });
    const split = splitDataset(dataset, { seed: 1 });
    assert.deepEqual(split.description.classes, [
      { className: 'a', train: 80, validation: 20 },
      { className: 'b', train: 8, validation: 2 },
      { className: 'c', train: 1, validation: 1 },   // round(0.4) = 0 → clamped up to 1
      { className: 'd', train: 2, validation: 1 },   // round(0.6) = 1
      { className: 'e', train: 6, validation: 1 },   // round(1.4) = 1
    ]);
    for (const [label, counts] of split.description.classes.entries()) {
      assert.equal(split.validation.items.filter((i) => i.label === label).length, counts.validation);
      assert.equal(split.train.items.filter((i) => i.label === label).length, counts.train);
    }
    assert.equal(split.description.trainCount + split.description.validationCount, dataset.items.length);
    // A high fraction still leaves one training image.
    assert.deepEqual(splitDataset(makeDataset({ a: 3, b: 2 }), { validationSplit: 0.9 }).description.classes
      .map((c) => [c.train, c.validation]), [[1, 2], [1, 1]]);
  });

  it('partitions the items: indices are disjoint, ascending and cover everything', () => {
    const dataset = makeDataset({ a: 23, b: 17 });
    const split = splitDataset(dataset, { seed: 5, validationSplit: 0.3 });
    const all = [...split.trainIndices, ...split.validationIndices].sort((x, y) => x - y);
    assert.deepEqual(all, dataset.items.map((_, i) => i));
    assert.deepEqual([...split.trainIndices], [...split.trainIndices].sort((x, y) => x - y));
    assert.deepEqual(split.validation.items, split.validationIndices.map((i) => dataset.items[i]));
    assert.deepEqual(split.train.classNames, dataset.classNames);
    assert.equal(split.train.root, '/data');
  });

  it('gives the same split whatever order the items are listed in, and a different one for another seed', () => {
    const sorted = makeDataset({ a: 40, b: 25 });
    const expected = validationNames(sorted, 42);
    assert.deepEqual(validationNames(makeDataset({ a: 40, b: 25 }, 'reversed'), 42), expected);
    assert.deepEqual(validationNames(makeDataset({ a: 40, b: 25 }, 'scrambled'), 42), expected);
    assert.equal(splitDataset(makeDataset({ a: 40, b: 25 }, 'scrambled'), { seed: 42 }).description.validationSha256,
      splitDataset(sorted, { seed: 42 }).description.validationSha256);
    assert.notDeepEqual(validationNames(sorted, 43), expected);
    // Not simply the first or last files of each class.
    assert.notDeepEqual(expected.slice(0, 8), sorted.items.slice(0, 8).map((i) => i.relativePath));
  });

  it('moves few images when one image is added', () => {
    const before = new Set(validationNames(makeDataset({ a: 50, b: 50 }), 7));
    const after = validationNames(makeDataset({ a: 51, b: 50 }), 7);
    const changed = after.filter((name) => !before.has(name)).length;
    assert.ok(changed <= 1, `${changed} validation images changed`);
  });

  it('rejects classes with fewer than 2 images (all named), and bad options', () => {
    const dataset = makeDataset({ a: 5, b: 1, c: 1 });
    assert.throws(() => splitDataset(dataset), (error: unknown) =>
      error instanceof FinetuneError && error.code === 'DATASET_INVALID' &&
      /"b" has 1, "c" has 1/.test(error.message) && /--validation-split 0/.test(error.hint ?? ''));
    const none = splitDataset(dataset, { validationSplit: 0 });
    assert.equal(none.validation.items.length, 0);
    assert.equal(none.train.items.length, 7);
    for (const validationSplit of [1, -0.1, Number.NaN])
      assert.throws(() => splitDataset(dataset, { validationSplit }), /validation-split/);
    assert.throws(() => splitDataset(makeDataset({ a: 4, b: 4 }), { seed: 1.5 }), /--seed 1\.5/);
  });
});
