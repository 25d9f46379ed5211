import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { writeRunFixture } from '../report/run-fixture.js';
import { runCli } from './helpers.js';

describe('finetune report', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'finetune report cli-'));   // a space, so the URL must be percent-encoded
    await writeRunFixture(join(root, 'run_m'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('prints an absolute, valid file URL for a relative run folder (issue 14, defect 10)', async () => {
    const result = await runCli(['report', 'run_m'], {}, 120_000, root);
    assert.equal(result.code, 0, result.stderr);
    const url = /^Report: (\S+)$/m.exec(result.stdout)?.[1] ?? '';
    assert.match(url, /^file:\/\/\//, `not an absolute file URL: ${result.stdout}`);
    assert.equal(fileURLToPath(url), join(root, 'run_m', 'report.html'));
    assert.ok(existsSync(fileURLToPath(url)));
    const json = await runCli(['report', 'run_m', '--json'], {}, 120_000, root);
    const parsed = JSON.parse(json.stdout) as { report: string; url: string };
    assert.equal(parsed.report, join(root, 'run_m', 'report.html'));
    assert.equal(parsed.url, url);
  });
});
