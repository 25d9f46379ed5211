/** `--max-memory` through the real executable: a tiny budget streams the training features; a bad size is a clean error. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from './helpers.js';
import { useShapesWorkspace } from '../helpers/shapes-workspace.js';

const { dir, backbonePath, env } = useShapesWorkspace('finetune-cli-max-memory-', { perClass: 10, size: 40, backboneSeed: 5 });

describe('finetune train --max-memory', () => {
  it('a budget below the features streams them from a file (cross-fitting by default), says so, and finishes the run', async () => {
    const out = join(dir, 'run');
    // 30 images × 128 floats × 4 bytes = 15 kB of features; 4 KiB streams them in windows of 4 rows.
    const result = await runCli(['train', '-b', backbonePath, '-d', join(dir, 'shapes'), '--out', out, '--epochs', '3', '--folds', '3',
      '--max-memory', '4KiB'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /Training features \(30 × 512 B = 15 kB\) exceed --max-memory 4\.1 kB: streaming them from a feature file \(windows of 4 rows/);
    assert.match(result.stdout, /Cross-validated accuracy: /);
    assert.ok(existsSync(join(out, 'head.onnx')));
    assert.equal(existsSync(join(out, '.features')), false, 'the feature file is deleted after training');
    const manifest = JSON.parse(await readFile(join(out, 'run.json'), 'utf8'));
    assert.equal(manifest.args.maxMemory, '4KiB');
  });

  it('a size that is not one, or too small for one row per window, is a usage error (exit 2): one line and a hint naming --max-memory', async () => {
    const notASize = await runCli(['train', '-b', backbonePath, '-d', join(dir, 'shapes'), '--out', join(dir, 'bad'), '--max-memory', 'lots'], env);
    assert.equal(notASize.code, 2, 'INVALID_OPTION is a usage error');
    assert.match(notASize.stderr, /^error: --max-memory "lots" is not a size/m);
    assert.match(notASize.stderr, /^hint: /m);
    const tooSmall = await runCli(['train', '-b', backbonePath, '-d', join(dir, 'shapes'), '--out', join(dir, 'small'), '--max-memory', '100'], env);
    assert.equal(tooSmall.code, 2);
    assert.match(tooSmall.stderr, /^error: --max-memory 100 bytes cannot hold the two window buffers/m);
    assert.match(tooSmall.stderr, /^hint: Raise --max-memory to at least 1024 bytes/m);
    assert.doesNotMatch(tooSmall.stderr, /\n\s+at .+:\d+:\d+/);
  });

  it('--help documents the flag and its default', async () => {
    const help = await runCli(['train', '--help'], env);
    assert.match(help.stdout, /--max-memory\s+Memory for the training features/);
    assert.match(help.stdout, /default: 1\/8 of\s+RAM, at most 2GiB/);
  });
});
