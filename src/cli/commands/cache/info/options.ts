/** The flags of `finetune cache info` and their parsed type. */
import type { ArgsOf } from '../../../options.js';
import { cacheLocationOptions } from '../cache-options.js';

export const cacheInfoPositionals = {
  extractor: { type: 'string', describe: 'Extractor key or a unique prefix (≥ 6 characters) from `finetune cache ls`.' },
} as const;

export type CacheInfoArgs = ArgsOf<typeof cacheLocationOptions & typeof cacheInfoPositionals>;
