import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapLimit } from '../../src/util/map-limit.js';

const tick = (ms = 1): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('mapLimit', () => {
  it('keeps input order with at most limit calls in flight', async () => {
    let inFlight = 0, maxInFlight = 0;
    const result = await mapLimit([5, 1, 4, 2, 3, 0], 2, async (ms, index) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await tick(ms);
      inFlight--;
      return `${index}:${ms}`;
    });
    assert.deepEqual(result, ['0:5', '1:1', '2:4', '3:2', '4:3', '5:0']);
    assert.equal(maxInFlight, 2);
    await assert.rejects(mapLimit([], 0, async () => 0), RangeError);
  });

  it('starts nothing new after a failure', async () => {
    const started: number[] = [];
    await assert.rejects(mapLimit([0, 1, 2, 3, 4, 5], 1, async (value) => {
      started.push(value);
      if (value === 1) throw new Error('one');
      return value;
    }), /one/);
    assert.deepEqual(started, [0, 1]);
  });
});
