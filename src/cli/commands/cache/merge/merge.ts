/** `finetune cache merge [sources..]`: shard caches into one cache, then the shard status. */
import { resolve } from 'node:path';
import { defaultCachePath } from '../../../../embed/embedding-cache.js';
import { embeddingsDir } from '../../../../util/paths.js';
import { mergeShardCaches } from '../../../../workflows/shard-caches.js';
import { createProgressRenderer } from '../../../progress.js';
import { green } from '../../../style.js';
import { printShardStatus } from '../print-shard-status.js';
import { printJson } from '../shared.js';
import type { CacheMergeArgs } from './options.js';

export async function cacheMerge(args: CacheMergeArgs): Promise<number> {
  const cacheDir = args.cacheDir !== undefined ? resolve(args.cacheDir) : embeddingsDir(args.home);
  const sources = args.sources !== undefined && args.sources.length > 0 ? args.sources : [cacheDir];
  const target = args.out ?? args.cache ?? defaultCachePath(cacheDir);
  const onProgress = createProgressRenderer({ json: args.json, quiet: args.quiet });
  const result = await mergeShardCaches(sources, target, {
    allowMixedExtractors: args.allowMixed, onProgress, data: args.data, extractor: args.extractor,
  });
  const exitCode = result.complete || args.allowIncomplete ? 0 : 1;
  if (args.json) { printJson(result); return exitCode; }
  const out = process.stdout;
  out.write(`${green('Merged', out)} ${result.merge.sources.length} cache file(s) into ${result.target}: ` +
    `${result.merge.inserted} new vectors, ${result.merge.alreadyPresent} already there\n`);
  if (result.status !== null) printShardStatus(result.status, 'merge');
  return exitCode;
}
