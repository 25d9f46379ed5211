/**
 * `finetune cache ls | info | prune | export | merge | status`: look after the embedding cache, and gather the
 * shard caches of a scaled-out extraction. One folder per subcommand: its command object (flags, help) and its
 * implementation, which loads only when the subcommand runs.
 */
import type { CommandModule } from 'yargs';
import { cacheExportCommand } from './export/command-object.js';
import { cacheInfoCommand } from './info/command-object.js';
import { cacheLsCommand } from './ls/command-object.js';
import { cacheMergeCommand } from './merge/command-object.js';
import { cachePruneCommand } from './prune/command-object.js';
import { cacheStatusCommand } from './status/command-object.js';

export const cacheCommand: CommandModule = {
  command: 'cache <command>',
  describe: 'Inspect, prune, export and merge embedding caches (ls | info | prune | export | merge | status).',
  builder: (yargs) => yargs
    .command(cacheLsCommand).command(cacheInfoCommand).command(cachePruneCommand).command(cacheExportCommand)
    .command(cacheMergeCommand).command(cacheStatusCommand)
    .demandCommand(1, 'Pick a cache command: ls, info, prune, export, merge or status.'),
  handler: () => undefined,
};
