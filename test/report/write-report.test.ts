import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isFinetuneError } from '../../src/errors.js';
import { readRunData } from '../../src/report/read-run-data.js';
import { renderReport } from '../../src/report/render-report.js';
import { writeReport } from '../../src/report/write-report.js';
import { writeRun } from '../../src/run/write-run.js';
import { HOSTILE_CLASS_NAME, makeRunRecord, writeRunFixture } from './run-fixture.js';
import type { RunFixture } from './run-fixture.js';

const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

describe('writeReport', () => {
  let root: string;
  let fixture: RunFixture;
  let html: string;
  let reportPath: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'finetune-report-'));
    fixture = await writeRunFixture(join(root, 'run'), { epochs: 8, bestEpoch: 5, withTest: true });
    reportPath = await writeReport(fixture.runDir, { generatedAt: new Date('2025-02-03T04:05:06Z') });
    html = await readFile(reportPath, 'utf8');
  });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  it('writes report.html in the run folder', () => {
    assert.equal(reportPath, join(fixture.runDir, 'report.html'));
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /2025-02-03T04:05:06.000Z/);
  });

  it('is self-contained: no external URLs, no scripts, a CSP that blocks requests', () => {
    assert.ok(!/\b(src|href)="(https?:|\/\/)/.test(html), 'found an external src/href');
    assert.ok(!/<script/i.test(html), 'the report should need no script');
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    assert.ok(!/url\(/.test(html), 'no CSS url() either');
  });

  it('draws loss and accuracy curves with a point per epoch for train and validation, and marks the best epoch', () => {
    const charts = [...html.matchAll(/<svg[^>]*class="chart line-chart"[^>]*data-points="(\d+)"/g)];
    assert.equal(charts.length, 2, 'loss and accuracy charts (constant learning rate: no third chart)');
    for (const chart of charts) assert.equal(Number(chart[1]), 2 * fixture.history.length);
    assert.equal(count(html, /<circle class="point"/g), 4 * fixture.history.length);
    assert.match(html, /<g class="marker" data-x="5" data-label="best = restored"/);
  });

  it('draws the confusion matrices with their counts and the per-class tables', () => {
    const numClasses = fixture.classNames.length;
    assert.equal(count(html, /<rect class="cell"/g), 2 * numClasses * numClasses, 'validation and test heatmaps');
    assert.match(html, /data-row="2" data-col="2" data-value="12"/);
    const table = /<table class="per-class" id="validation-per-class">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
    assert.equal(count(table, /<tr>/g), numClasses + 2, 'header, one row per class, macro average');
    assert.match(table, /<td>dog<\/td><td class="num">0.810<\/td><td class="num">0.770<\/td><td class="num">0.782<\/td><td class="num">15<\/td>/);
  });

  it('escapes class names everywhere', () => {
    assert.ok(!html.includes(HOSTILE_CLASS_NAME), 'the raw class name appears in the page');
    assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co'));
  });

  it('embeds the wrong images as small base64 thumbnails and says which ones are missing', () => {
    const images = [...html.matchAll(/<img src="data:image\/jpeg;base64,([A-Za-z0-9+/=]+)" width="(\d+)" height="(\d+)"/g)];
    assert.equal(images.length, fixture.imagePaths.length + 1, 'three validation thumbnails and one test thumbnail');
    for (const image of images) {
      assert.ok(Number(image[2]) <= 96 && Number(image[3]) <= 96);
      assert.equal(Buffer.from(image[1]!, 'base64').subarray(0, 2).toString('hex'), 'ffd8', 'a JPEG');
    }
    assert.match(html, /<div class="missing">image not found<\/div>/);
    assert.match(html, /predicted: dog \(95.0%\)/);
  });

  it('shows the manifest: backbone, preprocessing, hyper-parameters, timings and cache hits', () => {
    const manifest = /<section id="manifest">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '';
    for (const expected of ['mobilenetv2-12', 'embeddingDim', '1280', 'resize shorter side to 256 (pil-bilinear), center crop 224×224',
      'learningRate', '0.001', '12.5 s', '1 min 15 s', 'hit rate: 66.7%', 'ab'.repeat(32)]) {
      assert.ok(manifest.includes(expected), `manifest section lacks "${expected}"`);
    }
    assert.match(html, /Skipped files: 2/);
  });
});

describe('readRunData and renderReport', () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'finetune-report-')); });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  it('renders a run without validation and without metrics: train-only curves, no evaluation sections', async () => {
    const runDir = join(root, 'train-only');
    await writeRunFixture(runDir, { epochs: 3 });
    const history = [1, 2, 3].map((epoch) => ({ epoch, loss: 1 / epoch, accuracy: 0.3 * epoch, valLoss: null, valAccuracy: null,
      learningRate: 0.001, seconds: 0.1 }));
    await writeFile(join(runDir, 'history.json'), JSON.stringify(history));
    await rm(join(runDir, 'metrics.json'));
    const data = await readRunData(runDir);
    const html = renderReport(data);
    assert.equal(count(html, /<circle class="point"/g), 2 * 3);
    assert.ok(!html.includes('id="validation"'));
    assert.equal(renderReport(data), html, 'rendering is deterministic');
  });

  it('marks the exported epoch when no weights were restored', async () => {
    const runDir = join(root, 'no-restore');
    await writeRunFixture(runDir, { epochs: 4, bestEpoch: 2 });
    const metrics = JSON.parse(await readFile(join(runDir, 'metrics.json'), 'utf8')) as { training: Record<string, unknown> };
    metrics.training = { ...metrics.training, restoredEpoch: null, keptEpoch: 4, monitor: 'valAccuracy' };
    await writeFile(join(runDir, 'metrics.json'), JSON.stringify(metrics));
    const html = renderReport(await readRunData(runDir));
    assert.match(html, /<g class="marker" data-x="2" data-label="best"/);
    assert.match(html, /<g class="marker" data-x="4" data-label="exported"/);
    assert.match(html, /best epoch \(valAccuracy\)/);
    assert.match(html, /epoch of the exported weights/);
  });

  it('draws a run with 100 % accuracy in every epoch (issue 14, defect 2: the axis was empty and the run failed)', async () => {
    const runDir = join(root, 'perfect');
    const record = makeRunRecord({ epochs: 4, bestEpoch: 4 });
    await writeRun(runDir, { ...record, history: record.history.map((entry) => ({ ...entry, accuracy: 1, valAccuracy: 1 })) });
    const html = renderReport(await readRunData(runDir));
    const accuracyChart = /<div class="chart-box" id="accuracy-chart">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '';
    assert.equal(count(accuracyChart, /<circle class="point"/g), 2 * 4);
    assert.match(accuracyChart, />90%</, 'the axis runs from 90 % to 100 %');
    assert.match(accuracyChart, />100%</);
  });

  it('leaves the heatmap out above 100 classes but keeps the per-class table', async () => {
    const runDir = join(root, 'many-classes');
    const classNames = Array.from({ length: 101 }, (_, k) => `class-${k}`);
    await writeRunFixture(runDir, { epochs: 2, bestEpoch: 1, classNames });
    const html = renderReport(await readRunData(runDir, { maxThumbnails: 0 }));
    assert.equal(count(html, /<rect class="cell"/g), 0);
    assert.match(html, /101 classes are too many for a readable heatmap/);
    assert.equal(count(html, /<td>class-\d+<\/td>/g), 101);
    assert.equal(count(html, /<img /g), 0, 'maxThumbnails: 0 makes no thumbnails');
  });

  it('fails with FILE_NOT_FOUND for a folder that is not a run', async () => {
    await assert.rejects(readRunData(join(root, 'nope')), (error) => isFinetuneError(error) && error.code === 'FILE_NOT_FOUND');
    await assert.rejects(readRunData(root), (error) => isFinetuneError(error) && error.code === 'FILE_NOT_FOUND' &&
      /history\.json/.test(error.message));
  });

  it('names the damaged file when a run file is not valid JSON', async () => {
    const runDir = join(root, 'damaged');
    await writeRunFixture(runDir, { epochs: 2, bestEpoch: 1 });
    await writeFile(join(runDir, 'metrics.json'), '{"training": ');
    await assert.rejects(readRunData(runDir), (error) => isFinetuneError(error) && error.code === 'RUN_INVALID' &&
      error.message.includes('metrics.json') && error.cause !== undefined);
  });
});
