import type { CommandModule, InferredOptionTypes } from 'yargs';
import { cacheLocationOptions, runSubcommand } from '../cache-options.js';

export const cacheLsCommand: CommandModule<object, InferredOptionTypes<typeof cacheLocationOptions>> = {
  command: 'ls',
  describe: 'List the feature extractors (backbone + layer + pooling + preprocessing) in the cache, and any shard files beside it.',
  builder: (yargs) => yargs.options(cacheLocationOptions)
    .example('$0 cache ls', 'What the default cache holds')
    .example('$0 cache ls --cache-dir /shared/cache --json', 'As JSON'),
  handler: runSubcommand(async () => (await import('./ls.js')).cacheLs),
};
