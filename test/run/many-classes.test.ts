/**
 * 10,000 classes (issue 14, defect 3): the end of a run used to die with `Invalid string length` pretty-printing the
 * 10,000 × 10,000 confusion matrix into metrics.json, leaving no metrics.json, model.onnx or run.json. The matrix is
 * now sparse above 100 classes, in metrics.json and in `evaluate --json`, and the report still renders.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readRunData } from '../../src/report/read-run-data.js';
import { renderReport } from '../../src/report/render-report.js';
import { readRun } from '../../src/run/read-run.js';
import { RUN_FORMAT_VERSION } from '../../src/run/run-format.js';
import { writeRun } from '../../src/run/write-run.js';
import { evaluateProbabilities, isSparseConfusion } from '../../src/train/metrics.js';
import type { EvaluationMetrics } from '../../src/train/metrics.js';
import { Rng } from '../../src/util/rng.js';
import { formatEvaluation } from '../../src/workflows/evaluate.js';
import type { EvaluationReport } from '../../src/workflows/evaluate.js';
import { makeRunRecord } from '../report/run-fixture.js';

const NUM_CLASSES = 10_000;
const NUM_IMAGES = 1_000;

let root: string;
let metrics: EvaluationMetrics;
let labels: Int32Array;
let predicted: Int32Array;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'finetune-many-classes-'));
  const rng = new Rng(7);
  labels = new Int32Array(NUM_IMAGES);
  predicted = new Int32Array(NUM_IMAGES);
  const probabilities = new Float32Array(NUM_IMAGES * NUM_CLASSES).fill(0.5 / (NUM_CLASSES - 1));
  for (let row = 0; row < NUM_IMAGES; row++) {
    labels[row] = rng.nextInt(NUM_CLASSES);
    // Three in four right; the wrong ones mostly confuse class k with k + 1.
    const draw = rng.nextFloat();
    predicted[row] = draw < 0.75 ? labels[row]! : draw < 0.95 ? (labels[row]! + 1) % NUM_CLASSES : rng.nextInt(NUM_CLASSES);
    probabilities[row * NUM_CLASSES + predicted[row]!] = 0.5;
  }
  const classNames = Array.from({ length: NUM_CLASSES }, (_, k) => `class-${String(k).padStart(5, '0')}`);
  metrics = evaluateProbabilities(probabilities, labels, Array.from(labels, (_, row) => `/data/${row}.jpg`), classNames);
});
after(async () => { await rm(root, { recursive: true, force: true }); });

describe('10,000 classes', () => {
  it('evaluateProbabilities keeps the confusion matrix sparse: one cell per distinct (true, predicted) pair', () => {
    assert.ok(isSparseConfusion(metrics.confusionMatrix));
    const distinct = new Set(Array.from(labels, (label, row) => `${label},${predicted[row]}`));
    assert.equal(metrics.confusionMatrix.cells.length, distinct.size);
    assert.equal(metrics.confusionMatrix.cells.reduce((sum, [, , count]) => sum + count, 0), NUM_IMAGES);
    const correct = Array.from(labels).filter((label, row) => label === predicted[row]).length;
    assert.equal(metrics.accuracy, correct / NUM_IMAGES);
    assert.equal(metrics.perClass.length, NUM_CLASSES);
  });

  it('writeRun writes metrics.json in megabytes, not gigabytes, readRun reads it back, and the report renders', async () => {
    const runDir = join(root, 'run');
    const record = makeRunRecord({ classNames: metrics.perClass.map((entry) => entry.className), epochs: 3 });
    const written = await writeRun(runDir, { ...record, metrics: { ...record.metrics, validation: metrics, test: metrics } });
    assert.ok((await stat(written.metrics!)).size < 10_000_000, 'metrics.json is small');
    const run = await readRun(runDir);
    assert.equal(run.formatVersion, RUN_FORMAT_VERSION);
    assert.deepEqual(run.metrics?.validation, metrics);
    const html = renderReport(await readRunData(runDir, { maxThumbnails: 0 }));
    assert.match(html, /10000 classes are too many for a readable heatmap/);
    assert.equal((html.match(/<td>class-\d{5}<\/td>/g) ?? []).length, 2 * NUM_CLASSES, 'per-class tables for validation and test');
  });

  it('evaluate --json is compact and parses back; the text lists the most frequent confusions instead of a 10,000² table', () => {
    const report: EvaluationReport = {
      modelPath: 'model.onnx', dataFolder: '/data', classNames: metrics.perClass.map((entry) => entry.className), ...metrics,
      macro: { precision: 0, recall: 0, f1: 0 }, skipped: [],
    };
    const json = formatEvaluation(report, { json: true });
    assert.ok(json.length < 10_000_000);
    assert.deepEqual(JSON.parse(json).confusionMatrix, metrics.confusionMatrix);
    const text = formatEvaluation(report);
    assert.ok(text.length < 2_000_000);
    assert.match(text, /10000 classes are too many to print/);
    const firstConfusion = /Most frequent confusions \(\d+ of \d+\):\n\s+(\d+)× true (\S+), predicted (\S+)/.exec(text);
    assert.ok(firstConfusion, text.slice(0, 500));
  });
});
