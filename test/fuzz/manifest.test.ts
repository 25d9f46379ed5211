/**
 * Fuzz: ≥ 1,000 seeded mutated dataset manifests (CSV, JSONL, JSON) through `--data <manifest>` (scanDataset).
 * Each must scan or fail with a FinetuneError within 2 s and 200 MiB: never a crash (V8 heap or stack), a hang or
 * an internal error. FUZZ_SEED / FUZZ_SCALE as in onnx-model.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatReport, runFuzz } from './harness.js';
import { manifestCases, manifestWarmupCases } from './manifest-cases.js';

const seed = Number(process.env['FUZZ_SEED'] ?? 20260602);
const count = Math.round(1000 * Number(process.env['FUZZ_SCALE'] ?? 1));

describe('fuzz: mutated dataset manifests', () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'finetune-fuzz-manifest-')); });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  it(`${count} manifests (seed ${seed}): each scans or fails with a FinetuneError, within 2 s and 200 MiB`, async (t) => {
    const report = await runFuzz(manifestCases(root, count, seed), { warmup: manifestWarmupCases(root) });
    t.diagnostic(formatReport('manifest', report));
    assert.equal(report.cases, count);
    assert.ok(report.worked > count / 20, `only ${report.worked} of ${count} manifests scanned: the mutations never reach the row checks`);
    assert.ok((report.errorCodes['DATASET_INVALID'] ?? 0) > count / 10, `expected many DATASET_INVALID errors, got ${JSON.stringify(report.errorCodes)}`);
    assert.deepEqual(report.failures.map((failure) => `${failure.kind} ${failure.case.id}`), [], formatReport('manifest', report));
  });
});
