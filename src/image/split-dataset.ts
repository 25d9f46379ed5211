/**
 * Seeded, stratified train/validation split. Each class is split on its own, so class proportions are kept and every
 * class has at least one validation image (and at least one training image).
 *
 * The order inside a class is a seeded hash of the image's relative path, not a shuffle of a list: it does not depend
 * on the order the filesystem lists files in, and adding or removing one image moves at most that image and one
 * other between the two sets, instead of reshuffling the class.
 */
import { FinetuneError } from '../errors.js';
import { sha256 } from '../util/hash.js';
import type { Dataset, DatasetItem } from './scan-dataset.js';

export interface SplitDatasetOptions {
  /**
   * Fraction of each class held out for validation, in [0, 1). Each class gets `round(n × validationSplit)` images,
   * clamped to [1, n − 1]. `0` puts every image in training and none in validation. @defaultValue `0.2`
   */
  validationSplit?: number;
  /** Seed of the split; any safe integer. @defaultValue `0` */
  seed?: number;
}

/** What the split was, for the run manifest (run.json). Same method, seed, fraction and files ⇒ same split. */
export interface SplitDescription {
  /** Version tag of the algorithm; changes if the assignment rule ever changes. */
  readonly method: 'stratified-hash-v1';
  readonly seed: number;
  readonly validationSplit: number;
  readonly trainCount: number;
  readonly validationCount: number;
  /** Per class, in class-index order. */
  readonly classes: ReadonlyArray<{ readonly className: string; readonly train: number; readonly validation: number }>;
  /** sha256 of the validation images' relative paths, sorted, one per line: a fingerprint to compare runs. */
  readonly validationSha256: string;
}

export interface DatasetSplit {
  /** Same root and classNames as the input; items in the input's order; `skipped` is empty (it stays with the input). */
  readonly train: Dataset;
  readonly validation: Dataset;
  /** Indices into the input's `items`, ascending. */
  readonly trainIndices: readonly number[];
  readonly validationIndices: readonly number[];
  readonly description: SplitDescription;
}

/** Splits `dataset` per class; see the file comment. Throws DATASET_INVALID when a class has fewer than 2 images. */
export function splitDataset(dataset: Dataset, options: SplitDatasetOptions = {}): DatasetSplit {
  const validationSplit = options.validationSplit ?? 0.2;
  const seed = options.seed ?? 0;
  if (typeof validationSplit !== 'number' || !(validationSplit >= 0 && validationSplit < 1))
    throw new FinetuneError('INVALID_OPTION', `Invalid --validation-split ${JSON.stringify(validationSplit)}: expected a number in [0, 1).`,
      'Pass a fraction such as --validation-split 0.2, or 0 for no validation set.');
  if (!Number.isSafeInteger(seed))
    throw new FinetuneError('INVALID_OPTION', `Invalid --seed ${JSON.stringify(seed)}: expected a whole number.`,
      'Pass an integer such as --seed 42.');

  const byClass: number[][] = dataset.classNames.map(() => []);
  dataset.items.forEach((item, index) => {
    const members = byClass[item.label];
    if (members === undefined)
      throw new RangeError(`splitDataset: item ${index} has label ${item.label}, outside [0, ${dataset.classNames.length}).`);
    members.push(index);
  });

  if (validationSplit > 0) {
    const tooSmall = byClass
      .map((members, label) => ({ name: dataset.classNames[label]!, count: members.length }))
      .filter(({ count }) => count > 0 && count < 2);
    if (tooSmall.length > 0)
      throw new FinetuneError('DATASET_INVALID',
        `A validation split needs at least 2 images per class (1 to train, 1 to validate); ` +
        `${tooSmall.map(({ name, count }) => `"${name}" has ${count}`).join(', ')}.`,
        'Add images to those classes, or pass --validation-split 0 to train without a validation set.');
  }

  const isValidation = new Uint8Array(dataset.items.length);
  const classes: Array<{ className: string; train: number; validation: number }> = [];
  byClass.forEach((members, label) => {
    const count = members.length;
    const validationCount = validationSplit === 0 || count === 0
      ? 0 : Math.min(count - 1, Math.max(1, Math.round(count * validationSplit)));
    const ranked = members
      .map((index) => ({ index, key: splitKey(seed, dataset.items[index]!) }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index));
    for (let rank = 0; rank < validationCount; rank++) isValidation[ranked[rank]!.index] = 1;
    classes.push({ className: dataset.classNames[label]!, train: count - validationCount, validation: validationCount });
  });

  const trainIndices: number[] = [];
  const validationIndices: number[] = [];
  for (let index = 0; index < isValidation.length; index++) (isValidation[index] ? validationIndices : trainIndices).push(index);
  const pick = (indices: readonly number[]): Dataset =>
    ({ root: dataset.root, source: dataset.source, classNames: dataset.classNames, items: indices.map((i) => dataset.items[i]!), skipped: [] });
  const validationPaths = validationIndices.map((i) => dataset.items[i]!.relativePath).sort();
  return {
    train: pick(trainIndices),
    validation: pick(validationIndices),
    trainIndices,
    validationIndices,
    description: {
      method: 'stratified-hash-v1',
      seed,
      validationSplit,
      trainCount: trainIndices.length,
      validationCount: validationIndices.length,
      classes,
      validationSha256: sha256(validationPaths.join('\n')),
    },
  };
}

function splitKey(seed: number, item: DatasetItem): string {
  return sha256(`finetune-split-v1\0${seed}\0${item.relativePath}`);
}
