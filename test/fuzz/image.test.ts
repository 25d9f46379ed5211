/**
 * Fuzz: ≥ 200 seeded mutated image files (and hostile ones: size claims, decompression bombs, SVG and text behind
 * an image extension) through decoding and preprocessing, as embedding a dataset does. Each must decode or fail with
 * a FinetuneError within 2 s and 200 MiB: never a crash, a hang or an internal error.
 * FUZZ_SEED / FUZZ_SCALE as in onnx-model.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatReport, runFuzz } from './harness.js';
import { imageCases, imageWarmupCases } from './image-cases.js';

const seed = Number(process.env['FUZZ_SEED'] ?? 20260603);
const count = Math.round(300 * Number(process.env['FUZZ_SCALE'] ?? 1));

describe('fuzz: mutated image files', () => {
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'finetune-fuzz-image-')); });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  it(`${count} images (seed ${seed}): each decodes or fails with a FinetuneError, within 2 s and 200 MiB`, async (t) => {
    const report = await runFuzz(imageCases(root, count, seed), { warmup: await imageWarmupCases(root) });
    t.diagnostic(formatReport('image', report));
    assert.equal(report.cases, count);
    assert.ok(report.worked > count / 10, `only ${report.worked} of ${count} mutated images decoded`);
    assert.ok((report.errorCodes['IMAGE_DECODE_FAILED'] ?? 0) > count / 10, `expected many IMAGE_DECODE_FAILED, got ${JSON.stringify(report.errorCodes)}`);
    assert.deepEqual(report.failures.map((failure) => `${failure.kind} ${failure.case.id}`), [], formatReport('image', report));
  });
});
