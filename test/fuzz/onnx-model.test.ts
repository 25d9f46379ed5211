/**
 * Fuzz: ≥ 1,000 seeded mutations of valid ONNX models (bit flips, truncations, length-field edits, tree edits,
 * external-data entries) through `finetune inspect` and `--backbone <model.onnx>` (cut + ONNX Runtime session +
 * one inference). Each case must work or fail with a FinetuneError within 2 s and 200 MiB: never a crash, a hang or
 * an internal error, and never read external data from outside the model's folder.
 *
 * FUZZ_SEED=<n> explores other inputs; FUZZ_SCALE=<k> runs k times as many cases (nightly / before a release).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatReport, runFuzz } from './harness.js';
import { onnxCases, onnxWarmupCases } from './onnx-cases.js';

const seed = Number(process.env['FUZZ_SEED'] ?? 20260601);
const count = Math.round(1000 * Number(process.env['FUZZ_SCALE'] ?? 1));

describe('fuzz: mutated ONNX models', () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'finetune-fuzz-onnx-')); });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  it(`${count} mutations (seed ${seed}): each works or fails with a FinetuneError, within 2 s and 200 MiB`, async (t) => {
    const report = await runFuzz(onnxCases(root, count, seed), { warmup: onnxWarmupCases(root) });
    t.diagnostic(formatReport('onnx', report));
    assert.equal(report.cases, count);
    assert.ok(report.worked > count / 20, `only ${report.worked} of ${count} mutated models worked: the mutations are too destructive to reach the runtime`);
    assert.ok(Object.keys(report.errorCodes).length >= 2, `expected several error codes, got ${JSON.stringify(report.errorCodes)}`);
    assert.deepEqual(report.failures.map((failure) => `${failure.kind} ${failure.case.id}`), [], formatReport('onnx', report));
    assert.deepEqual(report.stderrSample, [], 'nothing on stderr: ONNX Runtime\'s own log lines must not leak (issue 14 defect 10)');
  });
});
