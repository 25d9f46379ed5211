/** The flags of `finetune cache prune` and their parsed type. */
import type { Options } from 'yargs';
import type { ArgsOf } from '../../../options.js';
import { cacheLocationOptions } from '../cache-options.js';

export const cachePruneOptions = {
  ...cacheLocationOptions,
  extractor: { type: 'string', requiresArg: true, describe: 'Extractor key or unique prefix to delete.' },
  'older-than-days': { type: 'number', requiresArg: true, describe: 'Delete extractors not used for more than this many days.' },
  all: { type: 'boolean', default: false, describe: 'Delete everything.' },
} as const satisfies Record<string, Options>;

export type CachePruneArgs = ArgsOf<typeof cachePruneOptions>;
