import type { CommandModule, InferredOptionTypes } from 'yargs';
import { runSubcommand } from '../cache-options.js';
import { cachePruneOptions } from './options.js';

export const cachePruneCommand: CommandModule<object, InferredOptionTypes<typeof cachePruneOptions>> = {
  command: 'prune',
  describe: 'Delete cached vectors: one extractor, those unused for N days, or all.',
  builder: (yargs) => yargs.options(cachePruneOptions)
    .example('$0 cache prune --older-than-days 30', 'Drop the vectors of backbones not used for a month')
    .example('$0 cache prune --extractor 3fa4c2e1b0d9', 'Drop one extractor'),
  handler: runSubcommand(async () => (await import('./prune.js')).cachePrune),
};
