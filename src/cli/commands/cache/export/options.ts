/** The flags of `finetune cache export` and their parsed type. */
import type { Options } from 'yargs';
import type { ArgsOf } from '../../../options.js';
import { cacheLocationOptions } from '../cache-options.js';

export const cacheExportOptions = {
  ...cacheLocationOptions,
  extractor: { type: 'string', requiresArg: true, describe: 'Extractor key or prefix (default: the only one in the cache).' },
  data: { alias: 'd', type: 'string', requiresArg: true, describe: 'Dataset giving the rows and labels (class indices); without it every vector, label −1.' },
  out: { alias: 'o', type: 'string', demandOption: true, requiresArg: true, describe: 'Output folder.' },
} as const satisfies Record<string, Options>;

export type CacheExportArgs = ArgsOf<typeof cacheExportOptions>;
