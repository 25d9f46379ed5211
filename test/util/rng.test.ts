import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyedStream, Rng } from '../../src/util/rng.js';

describe('keyedStream (sfc32 keyed by sha256)', () => {
  it('draws exactly the stream that cached augmented views were made with', () => {
    // Values from the generator as it was in image/augment.ts before it moved here. Cached views are keyed by
    // (spec, seed, view index), not by these draws, so they must never change.
    const random = keyedStream('finetune-augment-v1\0flip\0abc\0' + '0\0' + '1');
    assert.deepEqual([random(), random(), random(), random()],
      [0.21244331751950085, 0.48312227008864284, 0.04404759383760393, 0.2449695689138025]);
    const empty = keyedStream('');
    assert.deepEqual([empty(), empty()], [0.5238845059648156, 0.5558483006898314]);
  });

  it('gives independent streams for different keys and uniform values in [0, 1)', () => {
    const a = keyedStream('a'), b = keyedStream('b');
    let sum = 0, equal = 0;
    for (let i = 0; i < 10000; i++) {
      const value = a();
      assert.ok(value >= 0 && value < 1);
      if (value === b()) equal++;
      sum += value;
    }
    assert.equal(equal, 0);
    assert.ok(Math.abs(sum / 10000 - 0.5) < 0.01, `mean ${sum / 10000}`);
  });
});

describe('Rng.skip', () => {
  it('returns the state the skipped draws start from and continues the stream after them', () => {
    for (const count of [0, 1, 5, 1_000_003]) {
      const drawn = new Rng(42), skipped = new Rng(42);
      for (let i = 0; i < count; i++) drawn.nextUint32();
      const start = skipped.skip(count);
      assert.equal(skipped.nextUint32(), drawn.nextUint32(), `count ${count}`);
      assert.equal(new Rng(start).nextUint32(), new Rng(42).nextUint32(), 'the start is the state before the draws');
    }
    assert.throws(() => new Rng(1).skip(-1), RangeError);
  });
});
