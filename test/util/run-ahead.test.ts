import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runAhead } from '../../src/util/run-ahead.js';

const tick = (ms = 1): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('runAhead', () => {
  it('yields in order and never starts more than depth items ahead of the consumer', async () => {
    let pulled = 0, consumed = 0, maxAhead = 0;
    async function* source(): AsyncGenerator<number> {
      for (let i = 0; i < 20; i++) { pulled++; yield i; }
    }
    const seen: number[] = [];
    for await (const value of runAhead(source(), 3, async (i) => { await tick(i % 3); return i * 10; })) {
      maxAhead = Math.max(maxAhead, pulled - consumed);
      seen.push(value);
      consumed++;
      await tick(2);
    }
    assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => i * 10));
    // depth items queued + the one the consumer holds + the one the pump waits to push.
    assert.ok(maxAhead <= 3 + 2, `pulled ${maxAhead} ahead`);
  });

  it('stops pulling the source when the consumer leaves the loop', async () => {
    let pulled = 0;
    async function* source(): AsyncGenerator<number> {
      for (let i = 0; i < 1000; i++) { pulled++; yield i; }
    }
    for await (const value of runAhead(source(), 2, async (i) => i)) if (value === 3) break;
    const afterBreak = pulled;
    await tick(10);
    assert.equal(pulled, afterBreak, 'nothing pulled after the loop ended');
    assert.ok(pulled < 10, `pulled ${pulled}`);
  });

  it('ends with the first error of the source or of a started item', async () => {
    async function* failing(): AsyncGenerator<number> { yield 1; throw new Error('source broke'); }
    const seen: number[] = [];
    await assert.rejects(async () => { for await (const value of runAhead(failing(), 2, async (i) => i)) seen.push(value); }, /source broke/);
    async function* numbers(): AsyncGenerator<number> { for (let i = 0; i < 5; i++) yield i; }
    await assert.rejects(async () => {
      for await (const _ of runAhead(numbers(), 2, async (i) => { if (i === 2) throw new Error('item 2 broke'); return i; })) { /* drain */ }
    }, /item 2 broke/);
  });

  it('fails with the signal\'s reason when aborted', async () => {
    const controller = new AbortController();
    async function* slow(): AsyncGenerator<number> { for (let i = 0; ; i++) { await tick(5); yield i; } }
    await assert.rejects(async () => {
      for await (const value of runAhead(slow(), 2, async (i) => i, { signal: controller.signal })) if (value === 1) controller.abort(new Error('stop now'));
    }, /stop now/);
  });
});
