/** The flags every `finetune cache` subcommand shares, and its lazy handler (command objects import only this). */
import type { Options } from 'yargs';
import { handleErrors } from '../../handle-errors.js';
import { commonOptions } from '../../options.js';
import type { ArgsOf } from '../../options.js';

/** `--cache-dir`, `--cache` and `--home`, plus the common flags. */
export const cacheLocationOptions = {
  ...commonOptions,
  'cache-dir': { type: 'string', requiresArg: true, describe: 'Embedding cache folder (default: <home>/embeddings).' },
  cache: { type: 'string', requiresArg: true, describe: 'Exact cache file, e.g. one shard\'s embeddings.shard-0-of-4.sqlite (overrides --cache-dir).' },
  home: { type: 'string', requiresArg: true, describe: 'finetune home (default: $FINETUNE_HOME or ~/.cache/finetune).' },
} as const satisfies Record<string, Options>;

export type CacheLocationArgs = ArgsOf<typeof cacheLocationOptions>;

/**
 * A subcommand handler: loads the implementation only when the command runs (SQLite is a native addon), renders
 * errors, and sets the exit code; a returned exit code (e.g. 1 for an incomplete merge) wins over 0.
 */
export function runSubcommand<A extends Pick<CacheLocationArgs, 'verbose'>>(
  load: () => Promise<(args: A) => Promise<number | void>>): (args: A) => Promise<void> {
  return async (args) => {
    let code: number | void = 0;
    const handled = await handleErrors(args.verbose, async () => { code = await (await load())(args); });
    process.exitCode = handled !== 0 ? handled : (code ?? 0);
  };
}
