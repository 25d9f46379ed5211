/** runSweep on a small seeded test backbone: cross-fitted by default, a validation split only with folds 1. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isFinetuneError } from '../../src/errors.js';
import { runSweep } from '../../src/workflows/run-sweep.js';
import { useShapesWorkspace } from '../helpers/shapes-workspace.js';

const workspace = useShapesWorkspace('finetune-sweep-', { perClass: 6, size: 40, backboneSeed: 3 });
const common = { backbone: workspace.backbonePath, data: workspace.data, home: workspace.home, device: 'cpu' as const };

it('ranks configs by the cross-validated loss of every labelled image by default (issue 12)', async () => {
  const result = await runSweep({ ...common, grid: { learningRate: [1e-6, 0.01] }, train: { epochs: 5, workers: 0 } });
  assert.equal(result.results.length, 2);
  for (const entry of result.results) {
    assert.equal(entry.crossFit?.folds.length, 5);
    assert.equal(entry.crossFit?.oofLogits.length, 18 * 3, 'every image predicted out of fold');
  }
  assert.ok(result.results[0]!.valLoss <= result.results[1]!.valLoss);
});

it('takes a validation split only with folds: 1', async () => {
  await assert.rejects(runSweep({ ...common, grid: {}, validationSplit: 0.3 }),
    (error) => isFinetuneError(error) && error.code === 'INVALID_OPTION' && /--folds 1/.test(error.hint ?? ''));
  const single = await runSweep({ ...common, grid: { learningRate: [0.01] }, folds: 1, validationSplit: 0.3, train: { epochs: 3, workers: 0 } });
  assert.equal(single.best.crossFit, null);
  assert.ok(single.best.fit !== null);
});
