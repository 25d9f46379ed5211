/** The flags of `finetune cache status` and their parsed type. */
import type { Options } from 'yargs';
import { backboneOptions, preprocessOptions } from '../../../options.js';
import type { ArgsOf } from '../../../options.js';
import { cacheLocationOptions } from '../cache-options.js';

export const cacheStatusOptions = {
  ...cacheLocationOptions,
  ...backboneOptions,
  backbone: { ...backboneOptions.backbone, demandOption: false },
  home: { ...backboneOptions.home, requiresArg: true },
  ...preprocessOptions,
  data: { alias: 'd', type: 'string', requiresArg: true, describe: 'Dataset to compute the images expected per shard (hashes every image once).' },
  extractor: { type: 'string', requiresArg: true, describe: 'Extractor key or prefix to count (default: the only one; or give --backbone).' },
  shards: { type: 'number', requiresArg: true, describe: 'Only shards of N; lists all N even before any has started.' },
} as const satisfies Record<string, Options>;

export type CacheStatusArgs = ArgsOf<typeof cacheStatusOptions>;
