/** `finetune cache prune`: delete one extractor's vectors, those unused for N days, or all. */
import { existsSync } from 'node:fs';
import { pruneCache } from '../../../../embed/cache-admin.js';
import { EmbeddingCache } from '../../../../embed/embedding-cache.js';
import { FinetuneError } from '../../../../errors.js';
import { formatBytes } from '../../../../util/format.js';
import { cachePathOf, printJson } from '../shared.js';
import type { CachePruneArgs } from './options.js';

export async function cachePrune(args: CachePruneArgs): Promise<void> {
  const path = cachePathOf(args);
  if (args.extractor === undefined && args.olderThanDays === undefined && !args.all) {
    throw new FinetuneError('INVALID_OPTION', 'Nothing to prune: no extractor, age or --all given.',
      'Pass --extractor KEY (see `finetune cache ls`), --older-than-days N or --all.');
  }
  if (!existsSync(path)) throw new FinetuneError('FILE_NOT_FOUND', `No embedding cache at "${path}".`, 'Check --cache-dir / --cache; `finetune cache ls` shows where the cache is.');
  const cache = EmbeddingCache.open({ path });
  try {
    const result = pruneCache(cache, { extractor: args.extractor, olderThanDays: args.olderThanDays, all: args.all });
    if (args.json) { printJson(result); return; }
    process.stdout.write(`Removed ${result.removedExtractors.length} extractor(s) and ${result.removedVectors} vectors; ` +
      `${formatBytes(result.sizeBytesBefore)} → ${formatBytes(result.sizeBytesAfter)}\n`);
  } finally {
    cache.close();
  }
}
