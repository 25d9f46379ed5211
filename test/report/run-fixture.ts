/**
 * Writes a synthetic run folder shaped like the one the one-shot `finetune` command writes (history,
 * metrics, manifest, labels, skipped files, a few PNG images for the "most confidently wrong" gallery),
 * so report tests do not depend on the training pipeline.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

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
  readonly history: ReadonlyArray<Record<string, number>>;
  readonly metrics: Record<string, unknown>;
  readonly manifest: Record<string, unknown>;
  /** Paths of the images listed in mostConfidentlyWrong that exist on disk. */
  readonly imagePaths: readonly string[];
  /** A mostConfidentlyWrong path that does not exist. */
  readonly missingImagePath: string;
}

export const HOSTILE_CLASS_NAME = '<script>alert("x")</script> & co';

export async function writeRunFixture(runDir: string, options: RunFixtureOptions = {}): Promise<RunFixture> {
  const epochs = options.epochs ?? 8;
  const bestEpoch = options.bestEpoch ?? Math.min(5, epochs);
  const classNames = options.classNames ?? ['cat', 'dog', HOSTILE_CLASS_NAME];
  await mkdir(runDir, { recursive: true });

  const history = [];
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
  const confusionMatrix = classNames.map((_, row) => classNames.map((__, col) => (row === col ? 10 + row : (row + col) % 3)));
  const perClass = classNames.map((className, k) => ({
    className, precision: 0.8 + k / 100, recall: 0.75 + k / 50, f1: 0.77 + k / 80, support: 10 + k + 2 * (numClasses - 1),
  }));

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
  const mostConfidentlyWrong = [
    ...imagePaths.map((path, i) => ({
      path, trueClass: classNames[i % numClasses]!, predictedClass: classNames[(i + 1) % numClasses]!, probability: 0.95 - i / 10,
    })),
    { path: missingImagePath, trueClass: classNames[0]!, predictedClass: classNames[numClasses - 1]!, probability: 0.6 },
  ];
  const split = { accuracy: 0.84, n: perClass.reduce((sum, entry) => sum + entry.support, 0), perClass, confusionMatrix, mostConfidentlyWrong };
  const metrics: Record<string, unknown> = {
    training: { bestEpoch, restoredEpoch: bestEpoch, stoppedEpoch: epochs, stopReason: `valLoss did not improve for ${epochs - bestEpoch} epochs`, epochs: 20 },
    validation: split,
    ...(options.withTest ? { test: { ...split, accuracy: 0.81, mostConfidentlyWrong: mostConfidentlyWrong.slice(0, 1) } } : {}),
  };
  const preprocess = {
    resizeMode: 'shorter-side', resizeSize: 256, cropSize: 224, scale: 1 / 255,
    mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW',
  };
  const manifest: Record<string, unknown> = {
    tool: { name: 'finetune', version: '0.1.0' },
    createdAt: '2025-01-02T03:04:05.000Z',
    args: { data: '/data/pets', epochs: 20, patience: 3 },
    backbone: { id: 'mobilenetv2-12', sha256: 'ab'.repeat(32), featureTensor: '464', embeddingDim: 1280, pooling: 'avg' },
    preprocess,
    split: { seed: 42, validationSplit: 0.2, trainCount: 120, validationCount: 30 },
    hyperparameters: { learningRate: 0.001, batchSize: 32, epochs: 20, patience: 3, hidden: [] },
    timings: { embedSeconds: 12.5, trainSeconds: 3.25, exportSeconds: 0.8, totalSeconds: 75 },
    cache: { hits: 100, computed: 50 },
    versions: { node: process.version, onnxruntime: '1.30.0' },
  };

  await writeFile(join(runDir, 'history.json'), JSON.stringify(history, null, 2));
  await writeFile(join(runDir, 'history.csv'), ['epoch,loss,accuracy,valLoss,valAccuracy,learningRate,seconds',
    ...history.map((h) => [h.epoch, h.loss, h.accuracy, h.valLoss, h.valAccuracy, h.learningRate, h.seconds].join(','))].join('\n'));
  await writeFile(join(runDir, 'metrics.json'), JSON.stringify(metrics, null, 2));
  await writeFile(join(runDir, 'run.json'), JSON.stringify(manifest, null, 2));
  await writeFile(join(runDir, 'labels.json'), JSON.stringify({ classNames }));
  await writeFile(join(runDir, 'skipped.txt'), `/data/pets/cat/broken.jpg\tIMAGE_DECODE_FAILED: truncated file\n/data/pets/dog/x.gif\tunsupported format\n`);
  return { runDir, classNames, history, metrics, manifest, imagePaths, missingImagePath };
}
