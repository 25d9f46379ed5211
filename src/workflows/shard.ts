/**
 * Shards for scaled-out extraction: which slice of a dataset this worker embeds, and where its cache file goes.
 *
 * A shard is `K/N` with K **0-based** (0 ≤ K < N). Each image belongs to exactly one shard, chosen from its
 * content hash (shardOf in extract-embeddings.ts), so every worker computes the same assignment on its own and
 * renaming or reordering files never moves an image to another shard.
 *
 * Where K and N come from, first match wins:
 * 1. `--shard K/N` (any loop: `xargs -P`, GNU parallel, a shell `for`).
 * 2. Kubernetes Indexed Job: K = `JOB_COMPLETION_INDEX` (0-based). Kubernetes sets no count variable, so N comes
 *    from `--shards N` or `FINETUNE_SHARD_COUNT` (set it to the Job's `completions`).
 * 3. Slurm job array, two cases:
 *    - the array is the whole job (no count given): K = `SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN` (divided by
 *      `SLURM_ARRAY_TASK_STEP`) and N = `SLURM_ARRAY_TASK_COUNT`, so `--array=0-9`, `--array=1-10` and
 *      `--array=0-9%4` all give K = 0…9 of 10;
 *    - the count is given (`--shards N` or `FINETUNE_SHARD_COUNT`): the array may be a subset, e.g. a rerun of
 *      failed shards with `--array=3,7`, so K = `SLURM_ARRAY_TASK_ID` as is.
 *    Arrays numbered 0…N−1 work either way.
 */
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FinetuneError } from '../errors.js';

export interface ShardSpec {
  /** 0-based shard number. */
  readonly index: number;
  /** Number of shards. */
  readonly count: number;
}

export interface ResolvedShard extends ShardSpec {
  /** Where the numbers came from. */
  readonly source: 'flag' | 'kubernetes' | 'slurm';
}

/** The environment variables resolveShard reads. */
export type ShardEnv = Readonly<Record<string, string | undefined>>;

export interface ResolveShardOptions {
  /** `--shards N`: the shard count when it comes from the environment. @defaultValue none */
  readonly shards?: number;
  /** Ignore the environment (`--shard none`). @defaultValue `false` */
  readonly ignoreEnv?: boolean;
}

/** File name of shard K of N inside the cache directory: `embeddings.shard-K-of-N.sqlite`. */
export function shardCacheFileName(shard: ShardSpec): string {
  return `embeddings.shard-${shard.index}-of-${shard.count}.sqlite`;
}

/** The worker's report beside its cache file: `embeddings.shard-K-of-N.json` (state, counts, failed images). */
export function shardReportPath(cachePath: string): string {
  return cachePath.replace(/\.sqlite$/, '') + '.json';
}

const SHARD_FILE = /^embeddings\.shard-(\d+)-of-(\d+)\.sqlite$/;

/** K/N from a shard cache file name, or null when the name does not follow shardCacheFileName. */
export function parseShardFileName(path: string): ShardSpec | null {
  const match = SHARD_FILE.exec(basename(path));
  if (match === null) return null;
  const index = Number(match[1]), count = Number(match[2]);
  return index < count ? { index, count } : null;
}

/** Shard cache files in `dir` (sorted by N, then K); an absent directory has none. */
export function listShardFiles(dir: string): Array<{ path: string; shard: ShardSpec }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: Array<{ path: string; shard: ShardSpec }> = [];
  for (const name of names) {
    const shard = parseShardFileName(name);
    if (shard !== null) files.push({ path: join(dir, name), shard });
  }
  return files.sort((a, b) => a.shard.count - b.shard.count || a.shard.index - b.shard.index);
}

/** For each shard count N among `found`, the shard numbers K < N that are absent. */
export function missingShards(found: readonly ShardSpec[]): Map<number, number[]> {
  const present = new Map<number, Set<number>>();
  for (const shard of found) {
    const set = present.get(shard.count) ?? new Set<number>();
    set.add(shard.index);
    present.set(shard.count, set);
  }
  const missing = new Map<number, number[]>();
  for (const [count, indices] of [...present].sort((a, b) => a[0] - b[0])) {
    const absent: number[] = [];
    for (let index = 0; index < count; index++) if (!indices.has(index)) absent.push(index);
    missing.set(count, absent);
  }
  return missing;
}

/** Parses `K/N` (0-based K). Throws INVALID_OPTION naming the accepted forms. */
export function parseShard(value: string, what = '--shard'): ShardSpec {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  const index = match ? Number(match[1]) : NaN, count = match ? Number(match[2]) : NaN;
  if (!match || !(count >= 1) || !(index < count)) {
    throw new FinetuneError('INVALID_OPTION', `Invalid ${what} "${value}": expected K/N with 0 ≤ K < N (K is 0-based).`,
      match && index >= count && index === count
        ? `Shards are numbered from 0: the last of ${count} shards is ${count - 1}/${count}.`
        : 'Pass e.g. --shard 0/4 … --shard 3/4 to split the dataset in 4.');
  }
  return { index, count };
}

function parseCount(value: string | number, what: string): number {
  const count = typeof value === 'number' ? value : Number(value.trim());
  if (!Number.isInteger(count) || count < 1) {
    throw new FinetuneError('INVALID_OPTION', `Invalid shard count ${what} "${value}": expected a positive integer.`,
      'Set --shards (or FINETUNE_SHARD_COUNT) to the number of workers, e.g. the Job\'s completions.');
  }
  return count;
}

function parseIndex(value: string, what: string): number {
  const index = Number(value.trim());
  if (value.trim() === '' || !Number.isInteger(index) || index < 0) {
    throw new FinetuneError('INVALID_OPTION', `Invalid shard index ${what}="${value}": expected a non-negative integer.`,
      'Run the worker inside a Kubernetes Indexed Job or a Slurm job array, or pass --shard K/N.');
  }
  return index;
}

function checkInRange(index: number, count: number, where: string, hint: string): ResolvedShard['index'] {
  if (index >= count) {
    throw new FinetuneError('INVALID_OPTION', `Shard index ${index} (${where}) is out of range for ${count} shards (0-based: 0…${count - 1}).`, hint);
  }
  return index;
}

/**
 * The shard this worker embeds, from `--shard K/N` (`flag`), else the Kubernetes or Slurm environment, or null
 * for an unsharded run. See the file comment for the precedence and the 0-based numbering. `--shard none`
 * (or `ignoreEnv`) runs unsharded even inside a job array.
 */
export function resolveShard(flag: string | undefined, env: ShardEnv = process.env,
  options: ResolveShardOptions = {}): ResolvedShard | null {
  const shardsFlag = options.shards === undefined ? undefined : parseCount(options.shards, '--shards');
  const nonEmpty = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value;
  };
  if (flag !== undefined && flag.trim() !== '') {
    if (flag.trim() === 'none') return null;
    const shard = parseShard(flag);
    if (shardsFlag !== undefined && shardsFlag !== shard.count) {
      throw new FinetuneError('INVALID_OPTION', `--shard ${flag} says ${shard.count} shards but --shards says ${shardsFlag}.`,
        'Pass only one of them: --shard K/N, or --shards N with the index from the job environment.');
    }
    return { ...shard, source: 'flag' };
  }
  if (options.ignoreEnv === true) return null;
  const envCount = nonEmpty('FINETUNE_SHARD_COUNT');

  const k8sIndex = nonEmpty('JOB_COMPLETION_INDEX');
  if (k8sIndex !== undefined) {
    const index = parseIndex(k8sIndex, 'JOB_COMPLETION_INDEX');
    const count = shardsFlag ?? (envCount === undefined ? undefined : parseCount(envCount, 'FINETUNE_SHARD_COUNT'));
    if (count === undefined) {
      throw new FinetuneError('INVALID_OPTION',
        `JOB_COMPLETION_INDEX=${k8sIndex} gives this worker's shard, but not the number of shards (Kubernetes sets no count variable).`,
        'Pass --shards N or set FINETUNE_SHARD_COUNT=N in the pod spec, with N equal to the Job\'s completions.');
    }
    checkInRange(index, count, `JOB_COMPLETION_INDEX=${k8sIndex}`, 'Make --shards / FINETUNE_SHARD_COUNT equal to the Job\'s completions.');
    return { index, count, source: 'kubernetes' };
  }

  const slurmId = nonEmpty('SLURM_ARRAY_TASK_ID');
  if (slurmId !== undefined) {
    const id = parseIndex(slurmId, 'SLURM_ARRAY_TASK_ID');
    const explicitCount = shardsFlag ?? (envCount !== undefined ? parseCount(envCount, 'FINETUNE_SHARD_COUNT') : undefined);
    if (explicitCount !== undefined) {
      // A given count means the array may be a subset (a rerun of some shards): the task id is the shard.
      const index = checkInRange(id, explicitCount, `SLURM_ARRAY_TASK_ID=${slurmId}`,
        `With --shards / FINETUNE_SHARD_COUNT the task ids are the shard numbers: submit --array=0-${explicitCount - 1} (or a subset of it).`);
      return { index, count: explicitCount, source: 'slurm' };
    }
    const minText = nonEmpty('SLURM_ARRAY_TASK_MIN');
    const stepText = nonEmpty('SLURM_ARRAY_TASK_STEP');
    const min = minText === undefined ? 0 : parseIndex(minText, 'SLURM_ARRAY_TASK_MIN');
    const step = stepText === undefined ? 1 : parseCount(stepText, 'SLURM_ARRAY_TASK_STEP');
    const slurmCount = nonEmpty('SLURM_ARRAY_TASK_COUNT');
    if (slurmCount === undefined) {
      throw new FinetuneError('INVALID_OPTION',
        `SLURM_ARRAY_TASK_ID=${slurmId} is set but SLURM_ARRAY_TASK_COUNT is not, so the number of shards is unknown.`,
        'Pass --shards N (N = the number of shards; the task ids are then the shard numbers).');
    }
    const count = parseCount(slurmCount, 'SLURM_ARRAY_TASK_COUNT');
    const where = `SLURM_ARRAY_TASK_ID=${slurmId}, SLURM_ARRAY_TASK_MIN=${min}${step !== 1 ? `, SLURM_ARRAY_TASK_STEP=${step}` : ''}`;
    const hint = `Submit a contiguous array, e.g. sbatch --array=0-${count - 1}; to rerun some shards, give the real count (FINETUNE_SHARD_COUNT=N) and --array=<their numbers>.`;
    if (id < min || (id - min) % step !== 0) {
      throw new FinetuneError('INVALID_OPTION', `Cannot map ${where} to a shard number.`, hint);
    }
    const index = checkInRange((id - min) / step, count, where, hint);
    return { index, count, source: 'slurm' };
  }

  if (shardsFlag !== undefined || envCount !== undefined) {
    throw new FinetuneError('INVALID_OPTION',
      `${shardsFlag !== undefined ? `--shards ${shardsFlag}` : `FINETUNE_SHARD_COUNT=${envCount}`} gives the number of shards, but no shard index was found.`,
      'Pass --shard K/N, or run inside a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) or a Slurm job array (SLURM_ARRAY_TASK_ID).');
  }
  return null;
}
