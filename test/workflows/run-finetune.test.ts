/** runFinetune through the library on a small seeded test backbone: what it writes when an optional artifact fails. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { writeModel } from '../../src/onnx/write-model.js';
import { readRun } from '../../src/run/read-run.js';
import type { ProgressEvent } from '../../src/types.js';
import { runFinetune } from '../../src/workflows/run-finetune.js';
import { makeShapesDataset } from '../../scripts/lib/make-shapes.js';

let dir: string;
let backbonePath: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-run-'));
  backbonePath = join(dir, 'backbone.onnx');
  await writeModel(backbonePath, buildVggBackbone({ inputSize: 32, seed: 3 }).model);
  await makeShapesDataset(join(dir, 'shapes'), { perClass: 6, size: 40 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runFinetune', () => {
  it('a report that cannot be written is a warning: model.onnx, metrics.json and run.json are all written (issue 14, defect 2)', async () => {
    const out = join(dir, 'run');
    // report.html is a non-empty folder, so the report's atomic rename fails.
    await mkdir(join(out, 'report.html'), { recursive: true });
    await writeFile(join(out, 'report.html', 'keep'), 'x');
    const events: ProgressEvent[] = [];
    const result = await runFinetune({
      backbone: backbonePath, data: join(dir, 'shapes'), out, home: join(dir, 'home'), device: 'cpu', webParity: false,
      train: { epochs: 3 }, onProgress: (event) => events.push(event),
    });
    const warnings = events.flatMap((event) => (event.stage === 'warn' ? [event.message] : []));
    assert.ok(warnings.some((message) => /report\.html was not written/.test(message) && /finetune report/.test(message)),
      `warnings: ${warnings.join(' | ')}`);
    assert.equal(result.files.report, undefined);
    for (const key of ['model', 'head', 'metrics', 'manifest', 'historyJson', 'labels', 'skipped'] as const) {
      assert.ok(result.files[key] !== undefined && existsSync(result.files[key]!), `${key} is missing`);
    }
    const run = await readRun(out);
    assert.equal(run.manifest?.training.epochs, 3);
    assert.equal(run.metrics?.validation?.n, result.validation?.n);
  });
});
