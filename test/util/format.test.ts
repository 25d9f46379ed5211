import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, formatRate } from '../../src/util/format.js';

describe('formatBytes / formatRate', () => {
  it('rounds to whole bytes below 1 kB (a progress line once showed "0.9986116861923666 B/s")', () => {
    assert.equal(formatRate(0.9986116861923666), '1 B/s');
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(999.4), '999 B');
  });
  it('uses SI units with two or three significant digits, and never shows 1000 of a unit', () => {
    assert.equal(formatBytes(1234), '1.2 kB');
    assert.equal(formatBytes(9949), '9.9 kB');
    assert.equal(formatBytes(9950), '10 kB');
    assert.equal(formatBytes(999.5), '1.0 kB');
    assert.equal(formatBytes(999_499), '999 kB');
    assert.equal(formatBytes(999_500), '1.0 MB');
    assert.equal(formatBytes(553_436_134), '553 MB');   // VGG16 on the zoo: "553 MB"
    assert.equal(formatRate(10_000), '10 kB/s');
    assert.equal(formatRate(2.5e6), '2.5 MB/s');
  });
  it('says "?" for values that are not a size', () => {
    assert.equal(formatBytes(Number.NaN), '? B');
    assert.equal(formatBytes(-1), '? B');
    assert.equal(formatRate(Number.POSITIVE_INFINITY), '? B/s');
  });
});
