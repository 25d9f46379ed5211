/**
 * Runs fuzz cases in a child process (fuzz-worker.ts) so that a native crash or a hang is observed instead of
 * taking the test down. Time: a case that uses more than `timeoutMs` of CPU is too slow; one that has not answered
 * after `timeoutMs` of wall time (stretched by the load average when other processes share the CPU, at most 5×) is
 * retried once in a fresh process and is a hang if it times out again. A child that dies mid-case is a crash. Every case
 * must end with each step either working or throwing a FinetuneError; anything else (TypeError, RangeError,
 * "Maximum call stack size exceeded", an ORT or sharp error let through) is an internal error. The child's peak RSS
 * above its baseline (after warm-up) must stay under `memoryLimitBytes`.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cp, lstat, mkdtemp } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { FuzzTarget, StepResult, WorkerReply } from './fuzz-worker.js';

export interface FuzzCase {
  /** e.g. `onnx-0042`. */
  readonly id: string;
  readonly target: FuzzTarget;
  /** The file (or manifest) the worker opens. */
  readonly path: string;
  /** What was done to the input, for the failure report. */
  readonly description: string;
  /**
   * Set when success would be a defect (e.g. loading external data that escapes the model folder): the steps named
   * in `mustFailSteps` (all when absent) must then fail with a FinetuneError. The text says why.
   */
  readonly mustFail?: string;
  /** The steps `mustFail` applies to (a step that never opens the offending input may work). @defaultValue every step */
  readonly mustFailSteps?: readonly string[];
  /** The case owns its folder (model + external data): keep the whole folder with a failure. @defaultValue `false` */
  readonly ownFolder?: boolean;
}

export type FailureKind = 'crash' | 'hang' | 'slow' | 'internal-error' | 'memory' | 'must-fail';

export interface FuzzFailure {
  readonly kind: FailureKind;
  readonly case: FuzzCase;
  readonly detail: string;
  /** A copy of the input, kept under the OS temp folder for reproduction. */
  readonly keptAt?: string;
}

export interface FuzzReport {
  readonly cases: number;
  /** Cases where every step worked. */
  readonly worked: number;
  /** FinetuneError codes seen, with counts (per step). */
  readonly errorCodes: Record<string, number>;
  readonly failures: FuzzFailure[];
  /** Peak RSS of any worker process, and the largest rise above a worker's warmed-up baseline. */
  readonly peakRssBytes: number;
  readonly peakRssRiseBytes: number;
  /** The case during which the rise was largest. */
  readonly peakRssCase: string | null;
  /** CPU time of the slowest case that finished (ms), and the wall time of the whole run (s). */
  readonly slowestCaseMs: number;
  /** The 5 slowest cases (CPU ms), slowest first. */
  readonly slowest: Array<{ readonly id: string; readonly description: string; readonly ms: number }>;
  /** Time the worker spent in cases (ms), to tell harness overhead from the code under test. */
  readonly caseMs: number;
  readonly seconds: number;
  /** Worker processes started (1 + one per crash, hang or memory restart). */
  readonly workerStarts: number;
  /** Lines the worker wrote to stderr (native log noise), at most 20. */
  readonly stderrSample: string[];
}

export interface RunFuzzOptions {
  /** CPU time a case may use, and (stretched by the load) the wall time it may take. @defaultValue `2000` */
  readonly timeoutMs?: number;
  /** @defaultValue `200 MiB` */
  readonly memoryLimitBytes?: number;
  /** Cases run first to warm the worker up (JIT, native libraries); their RSS is the baseline. @defaultValue none */
  readonly warmup?: readonly FuzzCase[];
}

/** How much slower wall time runs than CPU time now: the 1-minute load average per core, between 1 and 5. */
function loadFactor(): number {
  return Math.min(5, Math.max(1, loadavg()[0]! / availableParallelism()));
}

const workerPath = new URL('./fuzz-worker.ts', import.meta.url).pathname;

interface Worker {
  readonly child: ChildProcess;
  readonly baselineRss: number;
  stderr: string;
}

async function startWorker(warmup: readonly FuzzCase[], stderrLines: string[]): Promise<Worker> {
  const child = fork(workerPath, [], {
    execArgv: ['--import', 'tsx', '--max-old-space-size=768', '--stack-size=984'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, FINETUNE_HOME: join(tmpdir(), 'finetune-fuzz-home-unused') },
  });
  const worker: Worker = { child, baselineRss: 0, stderr: '' };
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    worker.stderr = (worker.stderr + chunk).slice(-8000);
    for (const line of chunk.split('\n')) if (line.trim() !== '' && stderrLines.length < 20) stderrLines.push(line.slice(0, 300));
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fuzz worker did not start in 60 s: ${worker.stderr}`)), 60_000);
    child.once('message', () => { clearTimeout(timer); resolve(); });
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`fuzz worker exited at start (${code ?? signal}): ${worker.stderr}`)); });
  });
  let baseline = 0;
  for (const warm of warmup) {
    const result = await send(worker, 0, warm, 60_000);
    const failed = result.reply?.steps.find((step) => !step.ok);
    if (result.dead !== undefined || failed !== undefined) {
      child.kill('SIGKILL');
      throw new Error(`fuzz warm-up case ${warm.id} (${warm.description}) must work: ${result.dead ? result.detail : describeStep(failed!)}`);
    }
    baseline = Math.max(baseline, result.reply.maxRssBytes);
  }
  return Object.assign(worker, { baselineRss: baseline });
}

type SendResult = { reply: WorkerReply; dead?: undefined } | { reply?: undefined; dead: 'crash' | 'hang'; detail: string };

function send(worker: Worker, id: number, fuzzCase: FuzzCase, timeoutMs: number): Promise<SendResult> {
  return new Promise((resolve) => {
    const { child } = worker;
    worker.stderr = '';
    const onMessage = (reply: WorkerReply): void => {
      if (reply.id !== id) return;
      cleanup();
      resolve({ reply });
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      cleanup();
      resolve({ dead: 'crash', detail: `worker died (exit ${code ?? ''}${signal ?? ''}); stderr: ${worker.stderr.trim().slice(-1500) || '(empty)'}` });
    };
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      resolve({ dead: 'hang', detail: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send({ id, target: fuzzCase.target, path: fuzzCase.path });
  });
}

/** Copies the case's input (with its folder when it owns one; FIFOs and sockets left out) for reproduction. */
async function keep(fuzzCase: FuzzCase): Promise<string | undefined> {
  try {
    const dir = await mkdtemp(join(tmpdir(), `finetune-fuzz-failure-${fuzzCase.id}-`));
    await cp(fuzzCase.ownFolder === true ? dirname(fuzzCase.path) : fuzzCase.path, fuzzCase.ownFolder === true ? dir : join(dir, basename(fuzzCase.path)), {
      recursive: true, verbatimSymlinks: true,
      filter: async (source) => { const info = await lstat(source); return info.isFile() || info.isDirectory() || info.isSymbolicLink(); },
    });
    return join(dir, basename(fuzzCase.path));
  } catch {
    return undefined;
  }
}

const describeStep = (result: StepResult): string => result.ok ? `${result.name}: ok`
  : `${result.name}: ${result.error.name}${result.error.code ? ` ${result.error.code}` : ''}: ${result.error.message.slice(0, 300)}`;

/** Runs every case; never throws for a failing case (they are in the report). */
export async function runFuzz(cases: Iterable<FuzzCase> | AsyncIterable<FuzzCase>, options: RunFuzzOptions = {}): Promise<FuzzReport> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const memoryLimitBytes = options.memoryLimitBytes ?? 200 * 1024 * 1024;
  const warmup = options.warmup ?? [];
  const started = performance.now();
  const stderrSample: string[] = [];
  const failures: FuzzFailure[] = [];
  const errorCodes: Record<string, number> = {};
  const slowCases: Array<{ id: string; description: string; ms: number }> = [];
  let peakRssCase: string | null = null;
  let worker = await startWorker(warmup, stderrSample);
  let workerStarts = 1, count = 0, worked = 0, nextId = 1, peakRss = worker.baselineRss, peakRise = 0, slowest = 0, caseMs = 0;
  const restart = async (): Promise<void> => {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    worker = await startWorker(warmup, stderrSample);
    workerStarts++;
  };
  const fail = async (kind: FailureKind, fuzzCase: FuzzCase, detail: string): Promise<void> => {
    const keptAt = await keep(fuzzCase);
    failures.push({ kind, case: fuzzCase, detail, ...(keptAt ? { keptAt } : {}) });
  };
  try {
    const iterator: Iterator<FuzzCase> | AsyncIterator<FuzzCase> = Symbol.asyncIterator in cases
      ? cases[Symbol.asyncIterator]() : cases[Symbol.iterator]();
    let next = await iterator.next();
    while (next.done !== true) {
      const fuzzCase = next.value;
      count++;
      const pending = send(worker, nextId++, fuzzCase, timeoutMs * loadFactor());
      const following = iterator.next();   // the next case is written while the worker runs this one
      let result = await pending;
      if (result.dead === 'hang') {   // maybe only a busy machine: once more in a fresh worker
        await restart();
        result = await send(worker, nextId++, fuzzCase, timeoutMs * loadFactor());
      }
      next = await following;
      if (result.dead !== undefined) {
        await fail(result.dead, fuzzCase, result.detail);
        await restart();
        continue;
      }
      const { reply } = result;
      slowest = Math.max(slowest, reply.cpuMs);
      caseMs += reply.ms;
      slowCases.push({ id: fuzzCase.id, description: fuzzCase.description, ms: reply.cpuMs });
      if (slowCases.length > 5) slowCases.sort((a, b) => b.ms - a.ms).pop();
      peakRss = Math.max(peakRss, reply.maxRssBytes);
      const rise = reply.maxRssBytes - worker.baselineRss;
      if (rise > peakRise) {
        peakRise = rise;
        peakRssCase = `${fuzzCase.id} [${fuzzCase.description.slice(0, 80)}]`;
      }
      for (const step of reply.steps) {
        if (!step.ok && step.error.finetune) errorCodes[step.error.code ?? '?'] = (errorCodes[step.error.code ?? '?'] ?? 0) + 1;
      }
      const internal = reply.steps.find((step) => !step.ok && !step.error.finetune);
      if (internal !== undefined && !internal.ok) {
        await fail('internal-error', fuzzCase, `${describeStep(internal)}\n${internal.error.stack.split('\n').slice(1, 6).join('\n')}`);
      } else if (reply.cpuMs > timeoutMs) {
        await fail('slow', fuzzCase, `used ${reply.cpuMs.toFixed(0)} ms of CPU (limit ${timeoutMs} ms); ${reply.steps.map(describeStep).join('; ')}`);
      } else if (rise > memoryLimitBytes) {
        await fail('memory', fuzzCase, `peak RSS rose ${(rise / 2 ** 20).toFixed(0)} MiB above the worker's baseline (limit ${(memoryLimitBytes / 2 ** 20).toFixed(0)} MiB)`);
      } else if (fuzzCase.mustFail !== undefined
        && reply.steps.some((step) => step.ok && (fuzzCase.mustFailSteps?.includes(step.name) ?? true))) {
        await fail('must-fail', fuzzCase, `${fuzzCase.mustFail}; but ${reply.steps.map(describeStep).join('; ')}`);
      } else if (reply.steps.every((step) => step.ok)) {
        worked++;
      }
      if (rise > memoryLimitBytes) await restart();   // peak RSS only grows: a fresh worker measures the next cases
    }
  } finally {
    worker.child.kill('SIGKILL');
  }
  return {
    cases: count, worked, errorCodes, failures, peakRssBytes: peakRss, peakRssRiseBytes: peakRise, peakRssCase,
    slowestCaseMs: slowest, slowest: slowCases.sort((a, b) => b.ms - a.ms), caseMs, seconds: (performance.now() - started) / 1000, workerStarts, stderrSample,
  };
}

/** A readable summary: counts, error codes, peak RSS, then every failure with its description and kept input. */
export function formatReport(name: string, report: FuzzReport): string {
  const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const lines = [
    `${name}: ${report.cases} cases in ${report.seconds.toFixed(1)} s · ${report.worked} worked · FinetuneError codes ${JSON.stringify(report.errorCodes)}`,
    `  peak RSS ${mib(report.peakRssBytes)} (largest rise above the warmed-up baseline ${mib(report.peakRssRiseBytes)}, in ${report.peakRssCase ?? '-'}) · in cases ${(report.caseMs / 1000).toFixed(1)} s wall, slowest ${report.slowestCaseMs.toFixed(0)} ms CPU · worker starts ${report.workerStarts}`,
    `  slowest (CPU): ${report.slowest.map((c) => `${c.id} ${c.ms.toFixed(0)} ms [${c.description.slice(0, 80)}]`).join('; ')}`,
    ...report.failures.map((failure) => `  ${failure.kind.toUpperCase()} ${failure.case.id} [${failure.case.description}]: ${failure.detail}` +
      `${failure.keptAt ? `\n    input kept at ${failure.keptAt}` : ''}`),
  ];
  if (report.stderrSample.length > 0) lines.push(`  worker stderr (sample): ${report.stderrSample.slice(0, 5).join(' | ')}`);
  return lines.join('\n');
}
