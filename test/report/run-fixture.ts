/**
 * Writes a synthetic run folder through writeRun, the run folder's only writer (history, metrics, manifest, labels,
 * skipped files), plus a few PNG images for the "most confidently wrong" gallery, so report tests do not depend on
 * the training pipeline.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RunRecord } from '../../src/run/run-format.js';
import { writeRun } from '../../src/run/write-run.js';
import type { EpochLogs } from '../../src/train/callbacks.js';
import { DENSE_CONFUSION_MAX_CLASSES } from '../../src/train/metrics.js';
import type { ConfusionMatrix, EvaluationMetrics } from '../../src/train/metrics.js';

export interface RunFixtureOptions {
  /** @defaultValue `8` */
  epochs?: number;
  /** @defaultValue three classes, one with HTML-special characters */
  classNames?: readonly string[];
  /** Epoch with the lowest validation loss (best = restored). @defaultValue `5` */
  bestEpoch?: number;
  /** Also write a `test` split in metrics.json. @defaultValue `false` */
  withTest?: boolean;
}

export interface RunFixture {
  readonly runDir: string;
  readonly classNames: readonly string[];
  readonly record: RunRecord;
  readonly history: readonly EpochLogs[];
  /** Paths of the images listed in mostConfidentlyWrong that exist on disk. */
  readonly imagePaths: readonly string[];
  /** A mostConfidentlyWrong path that does not exist. */
  readonly missingImagePath: string;
}

export const HOSTILE_CLASS_NAME = '<script>alert("x")</script> & co';

/** A complete RunRecord of a made-up run; `wrongPaths` are the images listed as most confidently wrong. */
export function makeRunRecord(options: RunFixtureOptions = {}, wrongPaths: readonly string[] = ['/data/pets/cat/1.png']): RunRecord {
  const epochs = options.epochs ?? 8;
  const bestEpoch = options.bestEpoch ?? Math.min(5, epochs);
  const classNames = options.classNames ?? ['cat', 'dog', HOSTILE_CLASS_NAME];
  const history: EpochLogs[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const distance = epoch - bestEpoch;
    history.push({
      epoch,
      loss: 1.2 / epoch + 0.05,
      accuracy: Math.min(0.99, 0.5 + 0.06 * epoch),
      valLoss: 0.4 + 0.02 * distance * distance,
      valAccuracy: 0.85 - 0.01 * Math.abs(distance),
      learningRate: 0.001,
      seconds: 0.25 + epoch / 100,
    });
  }
  const numClasses = classNames.length;
  // Dense up to 100 classes, as the writer stores it; above, the diagonal only, sparse.
  const confusionMatrix: ConfusionMatrix = numClasses <= DENSE_CONFUSION_MAX_CLASSES
    ? classNames.map((_, row) => classNames.map((__, col) => (row === col ? 10 + row : (row + col) % 3)))
    : { encoding: 'sparse', numClasses, cells: classNames.map((_, k) => [k, k, 10 + k] as const) };
  const perClass = classNames.map((className, k) => ({
    className, precision: 0.8 + k / 100, recall: 0.75 + k / 50, f1: 0.77 + k / 80, support: 10 + k + 2 * (numClasses - 1),
  }));
  const mostConfidentlyWrong = wrongPaths.map((path, i) => ({
    path, trueClass: classNames[i % numClasses]!, predictedClass: classNames[(i + 1) % numClasses]!, probability: 0.95 - i / 10,
  }));
  const validation: EvaluationMetrics = {
    accuracy: 0.84, n: perClass.reduce((sum, entry) => sum + entry.support, 0), perClass, confusionMatrix, mostConfidentlyWrong,
  };
  const training = {
    epochs: 20, bestEpoch, restoredEpoch: bestEpoch, keptEpoch: bestEpoch, stoppedEpoch: epochs,
    stopReason: `valLoss did not improve for ${epochs - bestEpoch} epochs`, monitor: 'valLoss' as const, validationAccuracy: 0.84,
  };
  return {
    labels: { classNames },
    history,
    metrics: {
      training, crossFit: null, crossValidation: null, validation,
      test: options.withTest ? { ...validation, accuracy: 0.81, mostConfidentlyWrong: mostConfidentlyWrong.slice(0, 1) } : null,
      testCalibration: null, labelAudit: null, nearDuplicates: null,
    },
    labelIssues: null,
    nearDuplicates: null,
    skipped: [
      { path: '/data/pets/cat/broken.jpg', reason: 'IMAGE_DECODE_FAILED: truncated file' },
      { path: '/data/pets/dog/x.gif', reason: 'unsupported format' },
    ],
    head: null,
    model: null,
    manifest: {
      tool: { name: 'finetune', version: '0.1.0' },
      createdAt: '2025-01-02T03:04:05.000Z',
      args: { data: '/data/pets', epochs: 20, patience: 3 },
      data: { source: '/data/pets', kind: 'folder', classNames, images: 152, skipped: 2, fingerprint: 'cd'.repeat(32) },
      backbone: {
        id: 'mobilenetv2-12', sha256: 'ab'.repeat(32), path: '/models/mobilenetv2-12.onnx', featureTensor: '464',
        embeddingDim: 1280, pooling: 'avg', dequantized: false,
      },
      preprocess: {
        resizeMode: 'shorter-side', resizeSize: 256, resizeFilter: 'pil-bilinear', cropSize: 224, scale: 1 / 255,
        mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW',
      },
      split: {
        method: 'stratified-hash-v1', seed: 42, validationSplit: 0.2, trainCount: 120, validationCount: 30,
        classes: classNames.map((className) => ({ className, train: 40, validation: 10 })), validationSha256: 'ef'.repeat(32),
        validationFiles: ['cat/1.png'],
      },
      hyperparameters: { learningRate: 0.001, batchSize: 32, epochs: 20, patience: 3, hidden: [] },
      augmentation: null,
      training,
      crossFit: null,
      export: null,
      timings: { embedSeconds: 12.5, trainSeconds: 3.25, exportSeconds: 0.8, totalSeconds: 75 },
      cache: { hits: 100, computed: 50, backboneBatches: 4, extractorKey: '12'.repeat(32), provider: 'cpu' },
      versions: { node: process.version, onnxruntime: '1.30.0' },
    },
  };
}

export async function writeRunFixture(runDir: string, options: RunFixtureOptions = {}): Promise<RunFixture> {
  const imageDir = join(runDir, '..', `${runDir.split('/').pop()}-images`);
  const imagePaths: string[] = [];
  for (let i = 0; i < 3; i++) {
    const path = join(imageDir, `wrong-${i}.png`);
    await mkdir(imageDir, { recursive: true });
    await sharp({ create: { width: 40 + 10 * i, height: 30, channels: 3, background: { r: 60 * i, g: 120, b: 200 - 50 * i } } })
      .composite([{ input: { create: { width: 10, height: 10, channels: 3, background: '#ffffff' } }, left: 5, top: 5 }])
      .png().toFile(path);
    imagePaths.push(path);
  }
  const missingImagePath = join(imageDir, 'moved-away.png');
  const record = makeRunRecord(options, [...imagePaths, missingImagePath]);
  // The missing image is the least confident one and is wrong from the first class to the last.
  const classNames = record.labels.classNames;
  const metrics = record.metrics;
  const withMissing = (split: EvaluationMetrics): EvaluationMetrics => ({
    ...split, mostConfidentlyWrong: split.mostConfidentlyWrong.map((entry) => entry.path === missingImagePath
      ? { ...entry, trueClass: classNames[0]!, predictedClass: classNames[classNames.length - 1]!, probability: 0.6 } : entry),
  });
  const fixed: RunRecord = {
    ...record, metrics: { ...metrics, validation: metrics.validation && withMissing(metrics.validation) },
  };
  await writeRun(runDir, fixed);
  return { runDir, classNames, record: fixed, history: fixed.history, imagePaths, missingImagePath };
}
