import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Mutex } from '../../src/util/mutex.js';

const tick = (ms = 1): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('Mutex', () => {
  it('runs holders one at a time, first come first served, and returns their results', async () => {
    const mutex = new Mutex();
    const events: string[] = [];
    let inside = 0;
    const hold = (name: string, ms: number) => mutex.run(async () => {
      inside++;
      assert.equal(inside, 1, `${name} entered while another holder was inside`);
      events.push(`${name}+`);
      await tick(ms);
      events.push(`${name}-`);
      inside--;
      return name;
    });
    const results = await Promise.all([hold('a', 8), hold('b', 1), hold('c', 4)]);
    assert.deepEqual(results, ['a', 'b', 'c']);
    assert.deepEqual(events, ['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
  });

  it('passes a failure to its holder and lets the next one in', async () => {
    const mutex = new Mutex();
    const failing = mutex.run(async () => { await tick(); throw new Error('boom'); });
    const next = mutex.run(async () => 'next');
    await assert.rejects(failing, /boom/);
    assert.equal(await next, 'next');
  });
});
