/**
 * The `embed` and `cache` command modules behind a minimal yargs entry point, for tests that run before the
 * commands are registered in src/cli/commands/index.ts (shard-fixtures.ts switches to bin/finetune.js after).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { cacheCommand } from '../../src/cli/commands/cache.js';
import { embedCommand } from '../../src/cli/commands/embed.js';

await yargs(hideBin(process.argv)).scriptName('finetune').command(embedCommand).command(cacheCommand)
  .demandCommand(1).strict().parseAsync();
