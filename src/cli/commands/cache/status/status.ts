/** `finetune cache status`: per shard, images expected, done and failed; which shards are missing or unfinished. */
import { dirname } from 'node:path';
import { extractorKey } from '../../../../embed/embedding-cache.js';
import { prepareBackbone } from '../../../../workflows/prepare-backbone.js';
import { shardCacheStatus } from '../../../../workflows/shard-caches.js';
import { backboneSourceArgs } from '../../../options.js';
import { createProgressRenderer } from '../../../progress.js';
import { modelLimitsFromFlags, preprocessFlags } from '../../shared.js';
import { printShardStatus } from '../print-shard-status.js';
import { printJson } from '../shared.js';
import type { CacheStatusArgs } from './options.js';

export async function cacheStatus(args: CacheStatusArgs): Promise<void> {
  let extractor = args.extractor;
  if (extractor === undefined && args.backbone !== undefined) {
    const prepared = await prepareBackbone(args.backbone, {
      ...backboneSourceArgs(args),
      preprocess: preprocessFlags(args), modelLimits: modelLimitsFromFlags(args),
    });
    extractor = extractorKey(prepared.extractor.spec);
  }
  const onProgress = createProgressRenderer({ json: args.json, quiet: args.quiet });
  const status = await shardCacheStatus({
    onProgress, cacheDir: args.cache !== undefined ? dirname(args.cache) : args.cacheDir, home: args.home, data: args.data,
    extractor, shards: args.shards,
  });
  if (args.json) { printJson(status); return; }
  printShardStatus(status, 'status');
}
