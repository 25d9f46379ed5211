import type { CommandModule, InferredOptionTypes } from 'yargs';
import { cacheLocationOptions, runSubcommand } from '../cache-options.js';
import { cacheInfoPositionals } from './options.js';

export const cacheInfoCommand: CommandModule<object, InferredOptionTypes<typeof cacheLocationOptions & typeof cacheInfoPositionals>> = {
  command: 'info [extractor]',
  describe: 'Show the cache file\'s size and counts, or one extractor\'s full spec.',
  builder: (yargs) => yargs.options(cacheLocationOptions)
    .positional('extractor', cacheInfoPositionals.extractor)
    .example('$0 cache info', 'Path, size, extractors and vectors of the default cache')
    .example('$0 cache info 3fa4c2e1b0d9', 'Backbone sha256, layer, pooling and preprocessing of one extractor'),
  handler: runSubcommand(async () => (await import('./info.js')).cacheInfo),
};
