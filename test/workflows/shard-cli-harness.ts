/**
 * The `embed` and `cache` command modules behind a minimal yargs entry point that mirrors src/cli/main.ts (strict
 * parsing, usage errors exit 2), for tests that run before the commands are registered in
 * src/cli/commands/index.ts (shard-fixtures.ts switches to bin/finetune.js after).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { cacheCommand } from '../../src/cli/commands/cache.js';
import { embedCommand } from '../../src/cli/commands/embed.js';

class UsageError extends Error {}
try {
  await yargs(hideBin(process.argv)).scriptName('finetune').command(embedCommand).command(cacheCommand)
    .demandCommand(1).strict()
    .fail((message, error) => { throw error ?? new UsageError(message); })
    .parseAsync();
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`usage error: ${error.message}\n`);
  process.exitCode = 2;
}
