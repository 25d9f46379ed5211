/** The run folder's one writer and one reader: round trips, older formats, newer formats, damaged files. */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isFinetuneError } from '../../src/errors.js';
import { readRun } from '../../src/run/read-run.js';
import { RUN_FILES, RUN_FORMAT_VERSION } from '../../src/run/run-format.js';
import type { RunRecord } from '../../src/run/run-format.js';
import { writeRun } from '../../src/run/write-run.js';
import { makeRunRecord } from '../report/run-fixture.js';

const fixtures = new URL('./fixtures/', import.meta.url).pathname;

let root: string;
before(async () => { root = await mkdtemp(join(tmpdir(), 'finetune-run-folder-')); });
after(async () => { await rm(root, { recursive: true, force: true }); });

function fullRecord(): RunRecord {
  const record = makeRunRecord({ withTest: true });
  return {
    ...record, head: Uint8Array.of(1, 2, 3), model: Uint8Array.of(4, 5, 6, 7),
    labelIssues: [
      { path: '/data/cat/1.jpg', givenClass: 'cat', suggestedClass: 'dog', givenProbability: 0.125, suggestedProbability: 0.75 },
      { path: '/data/a "quoted", comma\nand newline.jpg', givenClass: 'dog', suggestedClass: 'cat', givenProbability: 0.2, suggestedProbability: 0.7 },
    ],
    nearDuplicates: [
      { cluster: 1, split: 'train', path: '/data/cat/1.jpg' }, { cluster: 1, split: 'test', path: '/test/cat/1 copy.jpg' },
    ],
  };
}

describe('writeRun / readRun', () => {
  it('readRun(writeRun(x)) gives x back, with the current formatVersion and every file listed', async () => {
    const dir = join(root, 'round-trip');
    const record = fullRecord();
    const written = await writeRun(dir, record);
    assert.deepEqual(Object.keys(written),
      ['head', 'labels', 'historyJson', 'historyCsv', 'metrics', 'skipped', 'labelIssues', 'nearDuplicates', 'model', 'manifest']);
    const run = await readRun(dir);
    assert.equal(run.formatVersion, RUN_FORMAT_VERSION);
    assert.deepEqual(run.manifest, { formatVersion: RUN_FORMAT_VERSION, ...record.manifest });
    assert.deepEqual(run.labels, record.labels);
    assert.deepEqual(run.history, record.history);
    assert.deepEqual(run.metrics, record.metrics);
    assert.deepEqual(run.skipped, record.skipped);
    assert.deepEqual(run.labelIssues, record.labelIssues);
    assert.deepEqual(run.nearDuplicates, record.nearDuplicates);
    assert.deepEqual(run.files, written);
    assert.deepEqual(new Uint8Array(await readFile(run.files.model!)), record.model);
    assert.deepEqual(new Uint8Array(await readFile(run.files.head!)), record.head);
    assert.deepEqual((await readdir(dir)).sort(),
      Object.values(RUN_FILES).filter((name) => name !== RUN_FILES.report && name !== RUN_FILES.modelData).sort(),
      'no temporary files are left behind');
  });

  it('records a model.onnx (and model.onnx.data) the export streamed into the folder, and removes both when there is none', async () => {
    const dir = join(root, 'in-place');
    await mkdir(dir, { recursive: true });
    const model = join(dir, RUN_FILES.model), data = join(dir, RUN_FILES.modelData);
    await writeFile(model, Uint8Array.of(1));
    await writeFile(data, Uint8Array.of(2));
    const written = await writeRun(dir, { ...fullRecord(), model: { path: model, externalDataPath: data } });
    assert.equal(written.model, model);
    assert.equal(written.modelData, data);
    assert.deepEqual((await readRun(dir)).files.modelData, data);
    assert.deepEqual([...await readFile(model)], [1], 'the streamed file is kept as it is');
    await writeRun(dir, { ...fullRecord(), model: Uint8Array.of(9) });
    assert.ok(!(await readdir(dir)).includes(RUN_FILES.modelData), 'an inline model leaves no stale data file');
    await writeFile(data, Uint8Array.of(2));
    await writeRun(dir, { ...fullRecord(), model: null });
    const left = await readdir(dir);
    assert.ok(!left.includes(RUN_FILES.model) && !left.includes(RUN_FILES.modelData));
    await assert.rejects(writeRun(dir, { ...fullRecord(), model: { path: join(root, 'elsewhere.onnx'), externalDataPath: null } }),
      /not in ".*in-place"/);
  });

  it('writes history.csv with empty cells for missing validation metrics, and no test key without a test split', async () => {
    const dir = join(root, 'csv');
    const record = makeRunRecord({ epochs: 2 });
    const history = [record.history[0]!, { ...record.history[1]!, valLoss: null, valAccuracy: null, loss: 0.5, seconds: 1.25 }];
    await writeRun(dir, { ...record, history });
    const csv = (await readFile(join(dir, 'history.csv'), 'utf8')).split('\n');
    assert.equal(csv[0], 'epoch,loss,accuracy,valLoss,valAccuracy,learningRate,seconds');
    assert.equal(csv[2], '2,0.5,0.62,,,0.001,1.25');
    const metrics = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8')) as Record<string, unknown>;
    assert.ok(!('test' in metrics));
    assert.equal((await readRun(dir)).metrics?.test, null);
  });

  it('a NaN loss (written as null, JSON has no NaN) reads back as NaN', async () => {
    const dir = join(root, 'nan');
    const record = makeRunRecord({ epochs: 2 });
    await writeRun(dir, { ...record, history: [record.history[0]!, { ...record.history[1]!, loss: Number.NaN }] });
    assert.ok(Number.isNaN((await readRun(dir)).history?.[1]?.loss));
  });

  it('skipped.txt: no files reads as none (not the header), and tabs and line breaks cannot break a line', async () => {
    const dir = join(root, 'skipped');
    await writeRun(dir, { ...makeRunRecord(), skipped: [] });
    assert.deepEqual((await readRun(dir)).skipped, []);
    const hostile = [
      { path: '/data/a\tb/c.jpg', reason: 'decode failed:\nline two\tand a tab' },
      { path: '"quoted".jpg', reason: 'x' },
      { path: 'C:\\photos\\cat.jpg', reason: 'unsupported format' },
    ];
    await writeRun(dir, { ...makeRunRecord(), skipped: hostile });
    assert.equal((await readFile(join(dir, 'skipped.txt'), 'utf8')).split('\n').length, 2 + hostile.length);
    assert.deepEqual((await readRun(dir)).skipped, [
      { path: '/data/a\tb/c.jpg', reason: 'decode failed: line two and a tab' },
      { path: '"quoted".jpg', reason: 'x' },
      { path: 'C:\\photos\\cat.jpg', reason: 'unsupported format' },
    ]);
  });

  it('a run without a manifest (failed after training) keeps its other files, and removes a stale run.json and model', async () => {
    const dir = join(root, 'unfinished');
    await writeRun(dir, fullRecord());
    await writeRun(dir, { ...fullRecord(), manifest: null, model: null });
    const run = await readRun(dir);
    assert.equal(run.manifest, null);
    assert.equal(run.files.manifest, undefined);
    assert.equal(run.files.model, undefined);
    assert.notEqual(run.metrics, null);
  });
});

describe('readRun on other versions and damaged folders', () => {
  it('reads a folder written before formatVersion existed (the 898ad45 demo run) as format 1', async () => {
    const run = await readRun(join(fixtures, 'run-format-1'));
    assert.equal(run.formatVersion, 1);
    assert.equal(run.manifest?.formatVersion, 1);
    assert.equal(run.manifest?.backbone.id, 'mobilenetv2-12-int8');
    assert.equal(run.metrics?.validation?.n, 18);
    assert.equal(run.history?.length, 50);
    assert.deepEqual(run.labels?.classNames, ['circle', 'square', 'triangle']);
    assert.deepEqual(run.skipped, []);
  });

  it('says which format a newer folder needs', async () => {
    const dir = join(root, 'newer');
    await cp(join(fixtures, 'run-format-1'), dir, { recursive: true });
    const manifest = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'run.json'), JSON.stringify({ ...manifest, formatVersion: RUN_FORMAT_VERSION + 1 }));
    await assert.rejects(readRun(dir), (error) => isFinetuneError(error) && error.code === 'RUN_FORMAT_UNSUPPORTED' &&
      error.message.includes(`format ${RUN_FORMAT_VERSION + 1}`) && /Upgrade finetune/.test(error.hint ?? ''));
  });

  it('names the file and the field that is malformed', async () => {
    const dir = join(root, 'malformed');
    await writeRun(dir, makeRunRecord());
    const metrics = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8')) as { validation: { perClass: Array<Record<string, unknown>> } };
    metrics.validation.perClass[1]!['support'] = 'many';
    await writeFile(join(dir, 'metrics.json'), JSON.stringify(metrics));
    await assert.rejects(readRun(dir), (error) => isFinetuneError(error) && error.code === 'RUN_INVALID' &&
      error.message.includes('metrics.json') && error.message.includes('validation.perClass[1].support') &&
      error.message.includes('expected an integer, found "many"'));
  });

  it('fails with FILE_NOT_FOUND for a missing folder and for a folder that is not a run', async () => {
    await assert.rejects(readRun(join(root, 'nope')), (error) => isFinetuneError(error) && error.code === 'FILE_NOT_FOUND');
    const empty = join(root, 'empty');
    await writeFile(join(root, 'a-file'), 'x');
    await assert.rejects(readRun(join(root, 'a-file')), (error) => isFinetuneError(error) && error.code === 'FILE_NOT_FOUND');
    await cp(join(fixtures, 'run-format-1', 'labels.json'), join(empty, 'labels.json'));
    await assert.rejects(readRun(empty), (error) => isFinetuneError(error) && error.code === 'FILE_NOT_FOUND' &&
      /history\.json/.test(error.message));
  });
});
