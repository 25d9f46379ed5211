/**
 * `finetune embed`: compute and cache the features of a dataset, nothing trained. With `--shard K/N` (or a
 * Kubernetes Indexed Job / Slurm array environment) it is one worker of a scaled-out extraction.
 */
import { dirname } from 'node:path';
import type { CommandModule, InferredOptionTypes, Options } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { backboneOptions, backboneSourceArgs, commonOptions, embedOptions, preprocessOptions } from '../options.js';
import type { ArgsOf } from '../options.js';
import { createProgressRenderer } from '../progress.js';
import { bold, dim, green, yellow } from '../style.js';
import { modelLimitsFromFlags, preprocessFlags } from './shared.js';

/** `--shard K/N` and `--shards N`: which part of a scaled-out extraction this worker embeds. */
export const shardOptions = {
  shard: {
    type: 'string', requiresArg: true,
    describe: 'Embed only shard K of N (K is 0-based: 0/4 … 3/4) into <cache-dir>/embeddings.shard-K-of-N.sqlite. ' +
      'Default: from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm array; minus SLURM_ARRAY_TASK_MIN ' +
      'unless --shards/FINETUNE_SHARD_COUNT is given) when set. ' +
      '"none" ignores those.',
  },
  shards: {
    type: 'number', requiresArg: true,
    describe: 'Number of shards N when the index comes from the environment (Kubernetes sets no count: pass the Job\'s completions; also $FINETUNE_SHARD_COUNT).',
  },
} as const satisfies Record<string, Options>;

const embedCommandOptions = {
  ...commonOptions, ...backboneOptions, ...preprocessOptions, ...embedOptions, ...shardOptions,
  data: { alias: 'd', type: 'string', demandOption: true, requiresArg: true, describe: 'Folder with one sub-folder per class, or a CSV/JSONL manifest (path,label).' },
  cache: { type: 'string', requiresArg: true, describe: 'Exact cache file to write (overrides --cache-dir and the shard file name).' },
  threads: { type: 'number', requiresArg: true, describe: 'ONNX Runtime threads per worker (set cores ÷ workers when several share a machine).' },
  report: { type: 'string', requiresArg: true, describe: 'Folder to write skipped.txt into (files left out, with the reason).' },
} as const satisfies Record<string, Options>;

export type EmbedArgs = ArgsOf<typeof embedCommandOptions>;

export const embedCommand: CommandModule<object, InferredOptionTypes<typeof embedCommandOptions>> = {
  command: 'embed',
  describe: 'Compute and cache backbone features for a dataset (no training). One worker of a sharded run with --shard K/N.',
  builder: (yargs) => yargs.options(embedCommandOptions)
    .example('$0 embed --data ./photos --backbone mobilenetv2', 'Fill the embedding cache; a later `finetune --data ./photos ...` computes nothing')
    .example('$0 embed -d /data/photos -b resnet50 --shard 3/8 --cache-dir /shared/cache', 'Worker 3 of 8 (0-based) writes /shared/cache/embeddings.shard-3-of-8.sqlite')
    .example('seq 0 3 | xargs -P 4 -I{} $0 embed -d ./photos -b mobilenetv2 --shard {}/4 --threads 4 --cache-dir ./cache', '4 workers on one 16-core machine, then `finetune cache merge --cache-dir ./cache`')
    .example('JOB_COMPLETION_INDEX=2 $0 embed -d /data -b mobilenetv2 --shards 10 --cache-dir /cache', 'Kubernetes Indexed Job pod 2 of 10 (see scripts/scale-out/)')
    .example('$0 embed -d ./photos -b ./my-model.onnx --input-size 299 --json', 'A custom backbone; the summary as JSON on stdout'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, () => runEmbed(args));
  },
};

/** The implementation behind `finetune embed`: resolves the shard, embeds, prints the summary. */
export async function runEmbed(args: EmbedArgs): Promise<void> {
  const { resolveShard } = await import('../../workflows/shard.js');
  const shard = resolveShard(args.shard, process.env, { shards: args.shards });
  const { embedDataset } = await import('../../workflows/embed-dataset.js');   // ORT and sharp load only now
  const onProgress = createProgressRenderer({ json: args.json, quiet: args.quiet });
  if (shard !== null && shard.source !== 'flag') {
    onProgress({ stage: 'info', status: 'message', message: `Shard ${shard.index}/${shard.count} (0-based) from the ${shard.source === 'kubernetes' ? 'Kubernetes' : 'Slurm'} environment` });
  }
  const result = await embedDataset(args.data, {
    backbone: args.backbone,
    shard: shard === null ? null : { index: shard.index, count: shard.count },
    device: args.device,
    strict: args.strict,
    cacheDir: args.cacheDir, cachePath: args.cache, batchSize: args.batchSize, intraOpNumThreads: args.threads,
    reportDir: args.report, ...backboneSourceArgs(args),
    preprocess: preprocessFlags(args), modelLimits: modelLimitsFromFlags(args),
    onProgress,
  });
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ...result, shardSource: shard?.source ?? null }, null, 2)}\n`);
    return;
  }
  const out = process.stdout;
  const rate = result.computed > 0 && result.seconds > 0 ? ` (${(result.inShard / result.seconds).toFixed(1)} img/s)` : '';
  const scope = result.shard
    ? `shard ${result.shard.index}/${result.shard.count}: ${result.inShard} of ${result.total} images`
    : `${result.total} images`;
  out.write(`${green('Embedded', out)} ${scope} · ${result.computed} computed, ${result.cacheHits} from cache` +
    `${result.failed.length > 0 ? yellow(`, ${result.failed.length} failed`, out) : ''}` +
    ` · ${result.backboneBatches} backbone batches · provider ${result.provider ?? 'none (all cached)'} · ${result.seconds.toFixed(1)}s${rate}\n`);
  out.write(`Features: ${result.embeddingDim}-d from ${result.backbone.id} at "${result.backbone.layer}" · extractor ${result.extractorKey.slice(0, 12)}\n`);
  out.write(`Cache: ${result.cachePath}\n`);
  if (result.skipped.length > 0 || result.failed.length > 0) {
    out.write(`Skipped: ${result.skipped.length} files by the scan, ${result.failed.length} undecodable` +
      `${result.files['skipped'] ? ` (see ${result.files['skipped']})` : ' (pass --report <folder> for skipped.txt)'}\n`);
    for (const failure of result.failed.slice(0, 5)) out.write(dim(`  ${failure.path}: ${failure.reason}\n`, out));
  }
  if (result.shard) {
    out.write(`\n${bold('Next', out)}: when all ${result.shard.count} shards are done, ` +
      `finetune cache merge --cache-dir ${dirname(result.cachePath)}  (check with: finetune cache status --cache-dir ${dirname(result.cachePath)})\n`);
  }
}
