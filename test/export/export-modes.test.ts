/** --export full|head|none and --external-data on the one-shot run, through the real executable. */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../cli/helpers.js';
import { useShapesWorkspace } from '../helpers/shapes-workspace.js';

const { dir, backbonePath: backbone, env } = useShapesWorkspace('finetune-export-modes-', { perClass: 6, size: 40, backboneSeed: 5 });

const run = (out: string, ...flags: string[]) =>
  runCli(['--backbone', backbone, '--data', join(dir, 'shapes'), '--out', join(dir, out), '--epochs', '3', ...flags], env);

describe('--export and --external-data', () => {
  it('--external-data writes model.onnx.data beside model.onnx, checks parity with it, and predict reads it', async () => {
    const result = await run('external', '--external-data', '--json');
    assert.equal(result.code, 0, result.stderr);
    const files = await readdir(join(dir, 'external'));
    assert.ok(files.includes('model.onnx') && files.includes('model.onnx.data') && files.includes('head.onnx'), files.join(', '));
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.files.modelData, join(dir, 'external', 'model.onnx.data'));
    assert.equal(summary.parity.ok, true, summary.parity.summary);
    assert.ok(summary.parity.checks.some((check: { part: string; runtime: string }) => check.part === 'features' && check.runtime === 'onnxruntime-node'));
    const manifest = JSON.parse(await readFile(join(dir, 'external', 'run.json'), 'utf8'));
    assert.equal(manifest.export.parity.ok, true);
    const predicted = await runCli(['predict', join(dir, 'external', 'model.onnx'), join(dir, 'shapes'), '--json', '--top', '1'], env);
    assert.equal(predicted.code, 0, predicted.stderr);
    assert.ok(JSON.parse(predicted.stdout).length >= 18);
  });

  it('--export head writes head.onnx only; --export none neither, and a later inline export removes stale data', async () => {
    const head = await run('external', '--export', 'head', '--no-web-parity');
    assert.equal(head.code, 0, head.stderr);
    const headFiles = await readdir(join(dir, 'external'));
    assert.ok(headFiles.includes('head.onnx'));
    assert.ok(!headFiles.includes('model.onnx') && !headFiles.includes('model.onnx.data'), headFiles.join(', '));
    const none = await run('none', '--export', 'none');
    assert.equal(none.code, 0, none.stderr);
    const noneFiles = await readdir(join(dir, 'none'));
    assert.ok(!noneFiles.some((name) => name.endsWith('.onnx') || name.endsWith('.data')), noneFiles.join(', '));
    assert.ok(noneFiles.includes('run.json') && noneFiles.includes('metrics.json'));
    const bad = await run('bad', '--export', 'everything');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Argument: export, Given: "everything", Choices: "full", "head", "none"/);
  });
});
