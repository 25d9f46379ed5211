/**
 * The scale-out examples (scripts/scale-out/) stay runnable and in step: the Slurm script and the Kubernetes Job
 * pass the same `finetune embed` flags and environment variables, and every flag any example uses exists in the
 * CLI (a renamed flag would otherwise break them silently: only the Slurm script runs on a scheduler, in CI).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const repoRoot = new URL('../..', import.meta.url).pathname;
const example = (name: string): string => readFileSync(join(repoRoot, 'scripts', 'scale-out', name), 'utf8');
const sbatch = example('slurm-embed.sbatch');
const indexedJob = example('k8s-indexed-job.yaml');
const mergeJob = example('k8s-merge-job.yaml');
const xargs = example('local-xargs.sh');

/** `--flag` names in a command line (comments removed). */
const flagsIn = (text: string): Set<string> =>
  new Set([...text.replace(/#.*$/gm, '').matchAll(/(?<![\w-])--([a-z][a-z-]*)/g)].map((match) => match[1]!));

/** The `finetune embed` command of the sbatch script: from `$FINETUNE embed` to the end of the continued line. */
function sbatchEmbedFlags(): Set<string> {
  const start = sbatch.indexOf('$FINETUNE embed');
  assert.ok(start >= 0, 'slurm-embed.sbatch runs $FINETUNE embed');
  const lines: string[] = [];
  for (const line of sbatch.slice(start).split('\n')) {
    lines.push(line);
    if (!line.trimEnd().endsWith('\\')) break;
  }
  return flagsIn(lines.join('\n'));
}

/** The flags of the Indexed Job's container args (`- --flag=value` lines under `args:`). */
function indexedJobFlags(): Set<string> {
  const args = indexedJob.slice(indexedJob.indexOf('args:'), indexedJob.indexOf('env:'));
  return flagsIn(args);
}

/** Option names a `finetune` (sub)command accepts, from its --help. */
function cliFlags(...command: string[]): Set<string> {
  const help = execFileSync(process.execPath, [join(repoRoot, 'bin', 'finetune.js'), ...command, '--help'], { encoding: 'utf8', timeout: 60_000 });
  return new Set([...help.matchAll(/^\s+(?:-\w, )?--([a-z][a-z-]*)/gm)].map((match) => match[1]!));
}

describe('scale-out examples', () => {
  it('the Slurm script and the Kubernetes Indexed Job run finetune embed with the same flags', () => {
    assert.deepEqual([...sbatchEmbedFlags()].sort(), [...indexedJobFlags()].sort());
    assert.deepEqual([...sbatchEmbedFlags()].sort(), ['backbone', 'cache-dir', 'data', 'device', 'offline', 'threads']);
  });

  it('both take the shard count and the finetune home from the same environment variables', () => {
    for (const name of ['FINETUNE_SHARD_COUNT', 'FINETUNE_HOME']) {
      assert.match(sbatch, new RegExp(`export ${name}=`), `slurm-embed.sbatch exports ${name}`);
      assert.match(indexedJob, new RegExp(`name: ${name}\\b`), `k8s-indexed-job.yaml sets ${name}`);
    }
    assert.match(mergeJob, /name: FINETUNE_HOME\b/, 'k8s-merge-job.yaml sets FINETUNE_HOME');
  });

  it('every flag the examples pass exists in the CLI', () => {
    const embed = cliFlags('embed');
    const merge = cliFlags('cache', 'merge');
    const status = cliFlags('cache', 'status');
    const missing = (used: Set<string>, known: Set<string>, where: string): string[] =>
      [...used].filter((flag) => !known.has(flag)).map((flag) => `${where}: --${flag}`);
    const xargsEmbed = xargs.slice(xargs.indexOf('$FINETUNE embed'), xargs.indexOf('--quiet') + 7);
    const mergeArgs = mergeJob.slice(mergeJob.indexOf('args:'), mergeJob.indexOf('env:'));
    assert.deepEqual([
      ...missing(sbatchEmbedFlags(), embed, 'slurm-embed.sbatch'),
      ...missing(indexedJobFlags(), embed, 'k8s-indexed-job.yaml'),
      ...missing(flagsIn(xargsEmbed), embed, 'local-xargs.sh embed'),
      ...missing(flagsIn(mergeArgs), merge, 'k8s-merge-job.yaml'),
      ...missing(flagsIn(xargs.slice(xargs.indexOf('cache status'), xargs.indexOf('\n', xargs.indexOf('cache status')))), status, 'local-xargs.sh status'),
    ], []);
  });

  it('the shell scripts parse (bash -n)', () => {
    for (const name of ['slurm-embed.sbatch', 'local-xargs.sh', 'test-slurm.sh']) {
      execFileSync('bash', ['-n', join(repoRoot, 'scripts', 'scale-out', name)]);
    }
  });
});
