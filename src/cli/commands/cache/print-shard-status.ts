/** Prints a shard status (from `cache status` or after `cache merge`). */
import type { shardCacheStatus } from '../../../workflows/shard-caches.js';
import { bold, dim, formatTable, green, yellow } from '../../style.js';
import { shortKey } from './shared.js';

type StatusResult = Awaited<ReturnType<typeof shardCacheStatus>>;

/** The shard table of `cache status` and `cache merge`, with the commands that finish the job. */
export function printShardStatus(status: StatusResult, context: 'merge' | 'status'): void {
  const out = process.stdout;
  if (status.dataset) {
    out.write(`Dataset ${status.dataset.root}: ${status.dataset.images} images, ${status.dataset.distinct} distinct` +
      `${status.dataset.unreadable.length > 0 ? `, ${status.dataset.unreadable.length} unreadable` : ''}\n`);
  }
  if (status.extractorKey) out.write(dim(`extractor ${shortKey(status.extractorKey)}\n`, out));
  for (const group of status.groups) {
    out.write(`\n${bold(`${group.count} shard(s)`, out)}${status.cacheDir ? ` in ${status.cacheDir}` : ''}:\n`);
    const cell = (value: number | null) => (value === null ? '-' : String(value));
    out.write(`${formatTable(['shard', 'state', 'expected', 'done', 'failed', 'remaining', 'worker'], group.shards.map((s) => [
      `${s.index}/${s.count}`, s.state, cell(s.expected), String(s.done), String(s.failed), cell(s.remaining),
      s.worker ? `${s.worker.host}:${s.worker.pid} ${s.worker.finishedAt ? `finished ${s.worker.finishedAt}` : `started ${s.worker.startedAt}`}` : '',
    ]))}\n`);
    if (group.complete) { out.write(green(`All ${group.count} shards complete.\n`, out)); continue; }
    if (group.missing.length > 0) out.write(yellow(`Missing shards (no file): ${group.missing.join(', ')}\n`, out));
    if (group.incomplete.length > 0) {
      out.write(yellow(`Unfinished or incomplete shards: ${group.incomplete.join(', ')} (still running, or the worker died)\n`, out));
    }
    const rerun = [...group.missing, ...group.incomplete].sort((a, b) => a - b);
    out.write(`Rerun (it resumes): ${rerun.map((k) => `finetune embed --shard ${k}/${group.count} …`).join('; ')}` +
      `${context === 'merge' ? ', then merge again' : ''}\n`);
  }
}
