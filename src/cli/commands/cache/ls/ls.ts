/** `finetune cache ls`: the extractors in a cache, and the shard files beside it. */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { cacheStats, listExtractors } from '../../../../embed/cache-admin.js';
import { listShardFiles } from '../../../../workflows/shard.js';
import { formatBytes } from '../../../../util/format.js';
import { bold, dim, formatTable } from '../../../style.js';
import type { CacheLocationArgs } from '../cache-options.js';
import { cachePathOf, printJson, shortKey, withReadonlyCache } from '../shared.js';

export async function cacheLs(args: CacheLocationArgs): Promise<void> {
  const path = cachePathOf(args);
  const shardFiles = args.cache === undefined ? listShardFiles(dirname(path)) : [];
  const extractors = existsSync(path) ? withReadonlyCache(path, (cache) => listExtractors(cache)) : [];
  const shards = shardFiles.map((file) => ({ ...file.shard, path: file.path,
    vectors: withReadonlyCache(file.path, (cache) => cacheStats(cache).vectors) }));
  if (args.json) { printJson({ path, exists: existsSync(path), extractors, shards }); return; }
  const out = process.stdout;
  out.write(`${bold('Cache', out)}: ${path}${existsSync(path) ? '' : dim(' (does not exist yet)', out)}\n`);
  if (extractors.length === 0) out.write('No extractors yet (run `finetune embed`).\n');
  else {
    out.write(`${formatTable(['extractor', 'backbone sha256', 'layer', 'pooling', 'input', 'dim', 'vectors', 'size', 'last used'],
      extractors.map((info) => [shortKey(info.key), shortKey(info.spec.backboneSha256), info.spec.layer, info.spec.pooling,
        `${info.spec.preprocess.cropSize}px`, info.embeddingDim, info.vectors, formatBytes(info.sizeBytes), info.lastUsedAt.slice(0, 10)]))}\n`);
  }
  if (shards.length > 0) {
    out.write(`\n${bold('Shard files', out)} beside it (merge with \`finetune cache merge --cache-dir ${dirname(path)}\`):\n`);
    out.write(`${formatTable(['shard', 'vectors', 'file'], shards.map((s) => [`${s.index}/${s.count}`, s.vectors, s.path]))}\n`);
  }
}
