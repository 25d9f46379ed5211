import type { CommandModule, InferredOptionTypes } from 'yargs';
import { runSubcommand } from '../cache-options.js';
import { cacheStatusOptions } from './options.js';

export const cacheStatusCommand: CommandModule<object, InferredOptionTypes<typeof cacheStatusOptions>> = {
  command: 'status',
  describe: 'Per shard: images expected (with --data), done, failed; which shards are missing or unfinished.',
  builder: (yargs) => yargs.options(cacheStatusOptions)
    .example('$0 cache status --cache-dir /shared/cache', 'Which shards are done, still running or dead')
    .example('$0 cache status --cache-dir /shared/cache --data /data/photos --backbone mobilenetv2', 'Expected vs done per shard for this dataset and backbone'),
  handler: runSubcommand(async () => (await import('./status.js')).cacheStatus),
};
