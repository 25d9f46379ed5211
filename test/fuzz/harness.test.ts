/**
 * The fuzz harness itself: each way a case can go wrong (a crash, an abort, a hang, CPU over the limit, an internal
 * error, memory over the limit, success where failure is required) is reported as such, and a case that works or
 * throws a FinetuneError is not a failure. Without this, a harness that saw nothing would pass every fuzz test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runFuzz } from './harness.js';
import type { FuzzCase } from './harness.js';

const selftest = (behaviour: string, extra: Partial<FuzzCase> = {}): FuzzCase =>
  ({ id: behaviour, target: 'selftest', path: behaviour, description: `selftest ${behaviour}`, ...extra });

describe('fuzz harness', () => {
  it('classifies crashes, hangs, slow cases, internal errors, memory and must-fail violations, and restarts its worker', async () => {
    const report = await runFuzz([
      selftest('ok'), selftest('finetune-error'), selftest('type-error'), selftest('crash'), selftest('ok'),
      selftest('abort'), selftest('hang'), selftest('busy'), selftest('memory'), selftest('ok', { id: 'ok-but-must-fail', mustFail: 'it must fail' }),
      selftest('finetune-error', { id: 'failing-as-required', mustFail: 'it must fail' }), selftest('ok'),
    ], { timeoutMs: 400, memoryLimitBytes: 200 * 2 ** 20, warmup: [selftest('ok')] });
    // 'busy' uses 0.8 s of CPU: 'slow' (over 0.4 s of CPU), or a 'hang' when the machine is so loaded that its
    // wall time passes the load-stretched deadline first; either way it is reported.
    const kinds = report.failures.map((failure) => `${failure.kind} ${failure.case.id}`.replace('hang busy', 'slow busy'));
    assert.deepEqual(kinds, [
      'internal-error type-error', 'crash crash', 'crash abort', 'hang hang', 'slow busy', 'memory memory', 'must-fail ok-but-must-fail',
    ]);
    assert.equal(report.cases, 12);
    assert.equal(report.worked, 3, 'the three plain ok cases (after each restart the worker answers again)');
    assert.deepEqual(report.errorCodes, { INVALID_OPTION: 2 });
    assert.match(report.failures.find((failure) => failure.kind === 'crash')!.detail, /SIGSEGV/);
    assert.ok(report.peakRssRiseBytes > 250 * 2 ** 20, `the 300 MiB allocation shows in the peak RSS rise (${report.peakRssRiseBytes})`);
    assert.ok(report.workerStarts >= 1 + 2 /* crashes */ + 2 /* hang: retry + after */ + 1 /* memory */, `${report.workerStarts} worker starts`);
  });
});
