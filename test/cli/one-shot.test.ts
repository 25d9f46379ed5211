/** The one-shot command and its failure modes, through the real executable, on a small seeded test backbone. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeShapesDataset } from '../../scripts/lib/make-shapes.js';
import { runCli, runCliInProcess } from './helpers.js';
import { useShapesWorkspace } from '../helpers/shapes-workspace.js';

const { dir, backbonePath, env } = useShapesWorkspace('finetune-cli-', { perClass: 12, size: 48, backboneSeed: 5 });

/** One line of error plus a hint, and no stack trace. */
function assertCleanError(stderr: string, pattern: RegExp): void {
  assert.match(stderr, /^error: /m);
  assert.match(stderr, /^hint: /m);
  assert.match(stderr, pattern);
  assert.doesNotMatch(stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace without --verbose');
}

describe('finetune (one-shot)', () => {
  it('cross-fits, exports a model, and says where everything went', async () => {
    const out = join(dir, 'run');
    const result = await runCli(['--backbone', backbonePath, '--classes', '3', '--data', join(dir, 'shapes'), '--out', out, '--epochs', '15'], env);
    assert.equal(result.code, 0, result.stderr);
    for (const name of ['model.onnx', 'head.onnx', 'labels.json', 'history.json', 'history.csv', 'metrics.json', 'skipped.txt',
      'label-issues.csv', 'near-duplicates.csv', 'run.json', 'report.html']) {
      assert.ok(existsSync(join(out, name)), `${name} is missing`);
      assert.ok(result.stdout.includes(join(out, name)) || name === 'report.html' || result.stdout.includes(name), `summary does not mention ${name}`);
    }
    assert.match(result.stdout, /Cross-validated accuracy: \d+\.\d+% \(95% CI \d+\.\d%–\d+\.\d%\) on 36 images, 5 folds/);
    assert.match(result.stdout, /Calibration: temperature \S+, ECE \d\.\d+ → \d\.\d+/);
    assert.match(result.stdout, /Folds: 1: epoch \d+\/\d+/);
    assert.match(result.stderr, /Fold 1\/5: training on \d+ images/);
    assert.match(result.stderr, /Epoch  1\/15 - /);
    const manifest = JSON.parse(await readFile(join(out, 'run.json'), 'utf8'));
    assert.equal(manifest.hyperparameters.learningRate, 0.001);
    assert.equal(manifest.split.seed, 42);
    assert.equal(manifest.crossFit.folds, 5);
  });

  it('--folds 1 trains once on a validation split (the Keras recipe); --json prints the summary; a rerun is served from the cache', async () => {
    const result = await runCli(['--backbone', backbonePath, '-c', '3', '-d', join(dir, 'shapes'), '--out', join(dir, 'run-json'),
      '--epochs', '3', '--json', '--no-web-parity', '--folds', '1', '--validation-split', '0.25'], env);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.training.stoppedEpoch, 3);
    assert.equal(summary.validation.n, 9);
    assert.equal(summary.crossValidation, null);
    assert.equal(summary.cache.computed, 0, 'the first test embedded these images already');
    assert.equal(summary.cache.hits, 36);
    assert.deepEqual(summary.classNames, ['circle', 'square', 'triangle']);
    assert.ok(summary.files.model.endsWith('model.onnx'));
  });

  it('--classes 4 on a 3-class folder fails before any backbone work, listing the classes found', async () => {
    const home = join(dir, 'home-mismatch');
    const result = await runCliInProcess(['--backbone', backbonePath, '--classes', '4', '--data', join(dir, 'shapes')], { FINETUNE_HOME: home });
    assert.equal(result.code, 1);
    assertCleanError(result.stderr, /circle.*square.*triangle/);
    assert.ok(!existsSync(join(home, 'embeddings')), 'no embedding cache was created');
  });

  it('an empty class folder and a single class fail with clear messages', async () => {
    const emptyClass = join(dir, 'empty-class');
    await makeShapesDataset(emptyClass, { perClass: 3, size: 32, classes: ['circle', 'square'] });
    await mkdir(join(emptyClass, 'triangle'));
    const empty = await runCliInProcess(['-b', backbonePath, '-c', '3', '-d', emptyClass], env);
    assert.equal(empty.code, 1);
    assertCleanError(empty.stderr, /triangle/);

    const single = join(dir, 'single');
    await makeShapesDataset(single, { perClass: 3, size: 32, classes: ['circle'] });
    const one = await runCliInProcess(['-b', backbonePath, '-c', '1', '-d', single], env);
    assert.equal(one.code, 1);
    assertCleanError(one.stderr, /class/i);
  });

  it('a usage error exits 2; an unknown zoo id lists the nearest ids', async () => {
    const usage = await runCliInProcess(['--backbone', backbonePath, '--classes', '3', '--data', join(dir, 'shapes'), '--bogus-flag'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /Unknown argument/);
    const unknown = await runCliInProcess(['-b', 'resnet5', '-c', '3', '-d', join(dir, 'shapes'), '--offline'], env);
    assert.equal(unknown.code, 1);
    assertCleanError(unknown.stderr, /resnet50/);
  });

  it('--offline with an uncached zoo backbone fails within seconds, naming the two ways out', async () => {
    const result = await runCliInProcess(['--backbone', 'vgg16', '--classes', '3', '--data', join(dir, 'shapes'), '--offline'], env);
    assert.equal(result.code, 1);
    assertCleanError(result.stderr, /mirror/i);
    assert.match(result.stderr, /--backbone \.\/\S*\.onnx/);
    assert.ok(result.seconds < 20, `took ${result.seconds}s`);
  });
});

describe('finetune inspect', () => {
  it('prints the feature tensors of a model, and JSON with --json', async () => {
    const text = await runCliInProcess(['inspect', backbonePath]);
    assert.equal(text.code, 0, text.stderr);
    const json = await runCliInProcess(['inspect', backbonePath, '--json']);
    const inspection = JSON.parse(json.stdout);
    assert.ok(Array.isArray(inspection.inputs) && inspection.inputs.length === 1);
    assert.ok(inspection.nodeCount > 5);
  });

  it('bad input gets one line and a hint, never a stack trace', async () => {
    const missing = await runCliInProcess(['inspect', join(dir, 'nope.onnx')]);
    assert.equal(missing.code, 1);
    assertCleanError(missing.stderr, /nope\.onnx/);

    const notOnnx = join(dir, 'not-onnx.onnx');
    await writeFile(notOnnx, 'this is not a model\n'.repeat(20));
    const garbage = await runCliInProcess(['inspect', notOnnx]);
    assert.equal(garbage.code, 1);
    assertCleanError(garbage.stderr, /not-onnx\.onnx/);

    const truncated = join(dir, 'truncated.onnx');
    const bytes = await readFile(backbonePath);
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const cut = await runCliInProcess(['inspect', truncated]);
    assert.equal(cut.code, 1);
    assertCleanError(cut.stderr, /truncated\.onnx/);
  });

  it('an unknown --layer lists the nearest tensor names', async () => {
    const result = await runCliInProcess(['train', '-b', backbonePath, '-d', join(dir, 'shapes'), '--layer', 'no_such_tensor', '--epochs', '1'], env);
    assert.equal(result.code, 1);
    assertCleanError(result.stderr, /no_such_tensor/);
    assert.match(result.stderr, /nearest|did you mean|closest/i);
  });
});
