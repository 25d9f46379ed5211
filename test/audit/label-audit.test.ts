/** The label audit on out-of-fold probabilities, and near-duplicate search in embedding space. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditLabels } from '../../src/audit/label-audit.js';
import { findNearDuplicates } from '../../src/audit/near-duplicates.js';
import { crossFit } from '../../src/train/cross-fit.js';
import { jsDenseKernels } from '../../src/train/dense-kernels.js';
import { Rng } from '../../src/util/rng.js';
import { makeBlobs } from '../train/synthetic.js';

describe('auditLabels', () => {
  it('by hand: per-class thresholds are the mean self-confidence; an image is an issue when another class reaches its threshold', () => {
    // Class 0 images: p0 = 0.9, 0.7, 0.2 → t0 = 0.6; class 1 images: p1 = 0.8, 0.6 → t1 = 0.7.
    const probabilities = Float32Array.of(0.9, 0.1, 0.7, 0.3, 0.2, 0.8, 0.2, 0.8, 0.4, 0.6);
    const audit = auditLabels(probabilities, [0, 0, 0, 1, 1], 2);
    assert.deepEqual(audit.thresholds.map((t) => +t.toFixed(4)), [0.6, 0.7]);
    // Row 2 (labelled 0, p1 = 0.8 ≥ 0.7) is an issue; row 4 (labelled 1, p0 = 0.4 < 0.6) is not.
    assert.deepEqual(audit.issues.map((issue) => [issue.row, issue.givenLabel, issue.suggestedLabel]), [[2, 0, 1]]);
    assert.ok(Math.abs(audit.issues[0]!.margin - 0.6) < 1e-6);
  });

  it('finds at least 80 % of 10 % flipped labels among its top 2 × (number flipped), from cross-fitted probabilities', async () => {
    const data = makeBlobs({ numSamples: 300, embeddingDim: 16, numClasses: 3, noise: 1.2, seed: 5 });
    const rng = new Rng(8);
    const flipped = new Set<number>();
    while (flipped.size < 30) flipped.add(rng.nextInt(300));
    const noisy = Int32Array.from(data.labels, (label, row) => (flipped.has(row) ? (label + 1 + rng.nextInt(2)) % 3 : label));
    const result = await crossFit({ ...data, labels: noisy }, { folds: 5, seed: 3, learningRate: 0.01, epochs: 40 });
    const audit = auditLabels(result.oofProbabilities, noisy, 3);
    const top = audit.issues.slice(0, 2 * flipped.size).map((issue) => issue.row);
    const found = top.filter((row) => flipped.has(row)).length;
    assert.ok(found >= 0.8 * flipped.size, `found ${found} of ${flipped.size} flipped labels in the top ${top.length}`);
    for (const issue of audit.issues.filter((entry) => flipped.has(entry.row))) {
      assert.notEqual(issue.suggestedLabel, noisy[issue.row]);
    }
  });
});

describe('findNearDuplicates', () => {
  it('links rows whose cosine reaches the threshold into clusters, whatever their length, and skips zero rows', () => {
    const dim = 40, rng = new Rng(2);
    const rows = 600;
    const features = Float32Array.from({ length: rows * dim }, () => rng.nextFloat() * 2 - 1);
    const copy = (from: number, to: number, scale: number, jitter: number) => {
      for (let f = 0; f < dim; f++) features[to * dim + f] = features[from * dim + f]! * scale + (rng.nextFloat() - 0.5) * jitter;
    };
    copy(3, 500, 2, 0.01);     // a scaled near-copy, across a block boundary (blocks of 256 rows)
    copy(3, 7, 1, 0.01);       // and another: one cluster {3, 7, 500}
    copy(20, 21, 1, 2);        // far too noisy to count
    features.fill(0, 30 * dim, 31 * dim);
    for (const kernels of [jsDenseKernels, undefined]) {
      const result = findNearDuplicates(features, rows, dim, { threshold: 0.98, ...(kernels ? { kernels } : {}) });
      assert.deepEqual(result.clusters, [[3, 7, 500]]);
      assert.deepEqual(result.pairs.map((pair) => [pair.a, pair.b]).sort(), [[3, 500], [3, 7], [7, 500]]);
      assert.equal(result.pairCount, 3);
      assert.deepEqual(result.zeroRows, [30]);
      assert.ok(result.pairs.every((pair) => pair.similarity >= 0.98 && pair.similarity <= 1));
    }
    assert.deepEqual(findNearDuplicates(features, rows, dim, { threshold: 0.98, maxPairs: 1 }).pairs.length, 1);
  });
});
