/** The flags of `finetune cache merge` and their parsed type. */
import type { Options } from 'yargs';
import type { ArgsOf } from '../../../options.js';
import { cacheLocationOptions } from '../cache-options.js';

export const cacheMergeOptions = {
  ...cacheLocationOptions,
  out: { alias: 'o', type: 'string', requiresArg: true, describe: 'Target cache file or folder (default: <cache-dir>/embeddings.sqlite, what training reads with the same --cache-dir).' },
  data: { alias: 'd', type: 'string', requiresArg: true, describe: 'Dataset to check every shard against (hashes every image once).' },
  extractor: { type: 'string', requiresArg: true, describe: 'Extractor to check when the shards hold several.' },
  'allow-mixed': { type: 'boolean', default: false, describe: 'Merge shards made with different backbones/layers/preprocessing (kept apart).' },
  'allow-incomplete': { type: 'boolean', default: false, describe: 'Exit 0 even when shards are missing or unfinished.' },
} as const satisfies Record<string, Options>;
export const cacheMergePositionals = {
  sources: { type: 'string', array: true, describe: 'Shard cache files or folders (default: every embeddings.shard-K-of-N.sqlite in --cache-dir).' },
} as const;

export type CacheMergeArgs = ArgsOf<typeof cacheMergeOptions & typeof cacheMergePositionals>;
