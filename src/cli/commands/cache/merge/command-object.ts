import type { CommandModule, InferredOptionTypes } from 'yargs';
import { runSubcommand } from '../cache-options.js';
import { cacheMergeOptions, cacheMergePositionals } from './options.js';

export const cacheMergeCommand: CommandModule<object, InferredOptionTypes<typeof cacheMergeOptions & typeof cacheMergePositionals>> = {
  command: 'merge [sources..]',
  describe: 'Merge shard caches into one cache (idempotent; rerun after more shards finish). Reports missing or unfinished shards by number; exit code 1 unless complete.',
  builder: (yargs) => yargs.options(cacheMergeOptions)
    .positional('sources', cacheMergePositionals.sources)
    .example('$0 cache merge --cache-dir /shared/cache', 'All shard files of /shared/cache → /shared/cache/embeddings.sqlite')
    .example('$0 cache merge shards/embeddings.shard-*-of-4.sqlite --out merged/', 'Named files → merged/embeddings.sqlite')
    .example('$0 cache merge --cache-dir /shared/cache --data /data/photos', 'Also check each shard holds every image it should'),
  handler: runSubcommand(async () => (await import('./merge.js')).cacheMerge),
};
