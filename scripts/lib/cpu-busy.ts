/**
 * How busy the machine is with other work, for benchmarks that must warn when their numbers are indicative only.
 * Samples /proc/stat over an idle second of this process: the share of all cores that others kept busy.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

function cpuTicks(): { busy: number; total: number } | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);   // idle + iowait
    const total = fields.reduce((sum, value) => sum + value, 0);
    return { busy: total - idle, total };
  } catch {
    return null;   // not Linux
  }
}

/** Fraction (0–1) of the machine's CPU time that other processes used during `sampleMs` while this one waited. */
export async function otherCpuShare(sampleMs = 1000): Promise<number | null> {
  const before = cpuTicks();
  await new Promise((resolve) => setTimeout(resolve, sampleMs));
  const after = cpuTicks();
  if (before === null || after === null || after.total === before.total) return null;
  return (after.busy - before.busy) / (after.total - before.total);
}

/** A warning line when others used more than `threshold` of the CPU, else null. */
export async function busyWarning(when: string, threshold = 0.1): Promise<string | null> {
  const share = await otherCpuShare();
  if (share === null || share <= threshold) return null;
  const [one] = readFileSync('/proc/loadavg', 'utf8').split(' ');
  return `WARNING (${when}): other processes used ${(share * 100).toFixed(0)}% of the ${cpus().length} cores ` +
    `(load average ${one}); these timings are indicative only.`;
}
