/**
 * How much CPU other processes used while a benchmark ran, from /proc (Linux): the machine's busy time from
 * /proc/stat minus this process tree's own CPU time (itself plus waited-for children, /proc/self/stat). A
 * benchmark prints `warning()` so nobody quotes a figure measured on a busy machine as if it were quiet.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

interface Sample { readonly atMs: number; readonly busySeconds: number; readonly ownSeconds: number }

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function sample(): Sample | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    const busyTicks = cpu.slice(0, 8).reduce((sum, value, index) => (index === 3 || index === 4 ? sum : sum + value), 0);
    // /proc/self/stat: fields after the ")" of the command name; utime stime cutime cstime are fields 14-17.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    const ownTicks = fields[11]! + fields[12]! + fields[13]! + fields[14]!;
    return { atMs: performance.now(), busySeconds: busyTicks / TICKS_PER_SECOND, ownSeconds: ownTicks / TICKS_PER_SECOND };
  } catch {
    return null; // not Linux: no warning possible
  }
}

export interface CpuContention {
  /** Average number of cores other processes kept busy between `start()` and now; null off Linux. */
  othersCores(): number | null;
  /** A warning line when others used more than `thresholdCores` on average, else null. */
  warning(thresholdCores?: number): string | null;
}

/** Starts measuring now. Call `warning()` at the end (children must have exited to be counted as our own). */
export function watchCpuContention(): CpuContention {
  const start = sample();
  const loadAtStart = (() => { try { return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]); } catch { return NaN; } })();
  const othersCores = (): number | null => {
    const end = sample();
    if (start === null || end === null || end.atMs <= start.atMs) return null;
    const wallSeconds = (end.atMs - start.atMs) / 1000;
    const others = (end.busySeconds - start.busySeconds) - (end.ownSeconds - start.ownSeconds);
    return Math.max(0, others / wallSeconds);
  };
  return {
    othersCores,
    warning(thresholdCores = 0.1) {
      const cores = othersCores();
      if (cores === null || cores <= thresholdCores) return null;
      return `WARNING: other processes kept ${cores.toFixed(2)} of ${availableParallelism()} cores busy on average during this run ` +
        `(1-minute load average at the start: ${loadAtStart.toFixed(2)}); these timings are not from a quiet machine.`;
    },
  };
}
