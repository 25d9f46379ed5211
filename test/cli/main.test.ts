/** The CLI in-process: main(argv) returns the exit code and never exits, so tests need no child process. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeRunFixture } from '../report/run-fixture.js';
import { runCliInProcess } from './helpers.js';
import type { CliResult } from './helpers.js';

describe('main (in-process)', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'finetune main-'));   // a space: the report URL must be percent-encoded
    await writeRunFixture(join(root, 'run_m'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('--version prints package.json\'s version and returns 0 (without exiting the process)', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const result = await runCliInProcess(['--version']);
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), pkg.version);
  });

  it('a usage error returns 2 with a hint', async () => {
    const result = await runCliInProcess(['predict']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /usage error: .*Not enough non-option arguments/);
    assert.match(result.stderr, /hint: run `finetune --help`/);
  });

  it('report prints an absolute, valid file URL for a relative run folder (issue 14, defect 10)', async () => {
    const cwd = process.cwd();
    process.chdir(root);
    let result: CliResult;
    try {
      result = await runCliInProcess(['report', 'run_m']);
    } finally {
      process.chdir(cwd);
    }
    assert.equal(result.code, 0, result.stderr);
    const url = /^Report: (\S+)$/m.exec(result.stdout)?.[1] ?? '';
    assert.match(url, /^file:\/\/\//, `not an absolute file URL: ${result.stdout}`);
    assert.match(url, /finetune%20main-/, 'the space is percent-encoded');
    assert.equal(fileURLToPath(url), join(root, 'run_m', 'report.html'));
    assert.ok(existsSync(fileURLToPath(url)));
  });
});
