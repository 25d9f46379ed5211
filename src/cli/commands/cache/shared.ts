/** Helpers of the `finetune cache` implementations: where the cache is, and how results are printed. */
import { EmbeddingCache } from '../../../embed/embedding-cache.js';
import { embedCachePath } from '../../../workflows/embed-dataset.js';
import type { CacheLocationArgs } from './cache-options.js';

/** The cache file the location flags name. */
export function cachePathOf(args: Pick<CacheLocationArgs, 'cache' | 'cacheDir' | 'home'>): string {
  return embedCachePath({ cachePath: args.cache, cacheDir: args.cacheDir, home: args.home });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The 12-character prefix under which extractor keys and hashes are shown. */
export const shortKey = (key: string): string => key.slice(0, 12);

/** Runs `fn` on the cache at `path` opened read-only, and closes it. */
export function withReadonlyCache<T>(path: string, fn: (cache: EmbeddingCache) => T): T {
  const cache = EmbeddingCache.open({ path, readonly: true });
  try {
    return fn(cache);
  } finally {
    cache.close();
  }
}
