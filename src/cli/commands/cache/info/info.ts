/** `finetune cache info [extractor]`: a cache file's size and counts, or one extractor's full spec. */
import { cacheStats, listExtractors, resolveExtractor } from '../../../../embed/cache-admin.js';
import { EmbeddingCache } from '../../../../embed/embedding-cache.js';
import { describePreprocessSpec } from '../../../../image/preprocess-spec.js';
import { formatBytes } from '../../../../util/format.js';
import { bold, dim } from '../../../style.js';
import { cachePathOf, printJson, shortKey } from '../shared.js';
import type { CacheInfoArgs } from './options.js';

export async function cacheInfo(args: CacheInfoArgs): Promise<void> {
  const path = cachePathOf(args);
  const cache = EmbeddingCache.open({ path, readonly: true });
  try {
    const out = process.stdout;
    if (args.extractor !== undefined) {
      const info = resolveExtractor(cache, args.extractor);
      if (args.json) { printJson(info); return; }
      out.write(`${bold('Extractor', out)} ${info.key}\n` +
        `  backbone sha256  ${info.spec.backboneSha256}\n  layer            ${info.spec.layer}\n  pooling          ${info.spec.pooling}\n` +
        `  preprocessing    ${describePreprocessSpec(info.spec.preprocess)}\n  embedding dim    ${info.embeddingDim}\n` +
        `  vectors          ${info.vectors} (${info.variantVectors} augmented views), ${formatBytes(info.sizeBytes)}\n` +
        `  created          ${info.createdAt}\n  last used        ${info.lastUsedAt}\n`);
      return;
    }
    const stats = cacheStats(cache);
    const extractors = listExtractors(cache);
    if (args.json) { printJson({ ...stats, extractorList: extractors }); return; }
    out.write(`${bold('Cache', out)}: ${stats.path}\n  schema version  ${stats.schemaVersion}\n  size on disk    ${formatBytes(stats.sizeBytes)}\n` +
      `  extractors      ${stats.extractors}\n  vectors         ${stats.vectors}\n`);
    for (const info of extractors) out.write(`  ${shortKey(info.key)}  ${info.vectors} × ${info.embeddingDim}-d  layer ${info.spec.layer}\n`);
    if (extractors.length > 0) out.write(dim(`Details: finetune cache info <extractor>\n`, out));
  } finally {
    cache.close();
  }
}
