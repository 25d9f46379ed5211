/**
 * `finetune cache ls | info | prune | export | merge | status`: look after the embedding cache, and gather the
 * shard caches of a scaled-out extraction.
 */
import type { Argv, CommandModule } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { withBackboneOptions, withCommonOptions, withPreprocessOptions } from '../options.js';
import type { BackboneOptions, CommonOptions, PreprocessOptions } from '../options.js';
import { createProgressRenderer } from '../progress.js';
import { bold, dim, formatBytes, formatTable, green, yellow } from '../style.js';
import { preprocessFlags } from './shared.js';

export interface CacheLocationArgs extends CommonOptions {
  cacheDir: string | undefined;
  cache: string | undefined;
  home: string | undefined;
}

export interface CacheInfoArgs extends CacheLocationArgs { extractor: string | undefined }
export interface CachePruneArgs extends CacheLocationArgs {
  extractor: string | undefined;
  olderThanDays: number | undefined;
  all: boolean;
}
export interface CacheExportArgs extends CacheLocationArgs { extractor: string | undefined; data: string | undefined; out: string }
export interface CacheMergeArgs extends CacheLocationArgs {
  sources: string[] | undefined;
  out: string | undefined;
  data: string | undefined;
  extractor: string | undefined;
  allowMixed: boolean;
  allowIncomplete: boolean;
}
export interface CacheStatusArgs extends CacheLocationArgs, Partial<Omit<BackboneOptions, 'home'>>, PreprocessOptions {
  data: string | undefined;
  extractor: string | undefined;
  shards: number | undefined;
}

function withCacheLocation<T>(yargs: Argv<T>): Argv<T & CacheLocationArgs> {
  return withCommonOptions(yargs)
    .option('cache-dir', { type: 'string', requiresArg: true, describe: 'Embedding cache folder (default: <home>/embeddings).' })
    .option('cache', { type: 'string', requiresArg: true, describe: 'Exact cache file, e.g. one shard\'s embeddings.shard-0-of-4.sqlite (overrides --cache-dir).' })
    .option('home', { type: 'string', requiresArg: true, describe: 'finetune home (default: $FINETUNE_HOME or ~/.cache/finetune).' }) as unknown as Argv<T & CacheLocationArgs>;
}

/** Runs a subcommand's implementation; a returned exit code (e.g. 1 for an incomplete merge) wins over 0. */
const run = <A extends CommonOptions>(impl: (args: A) => Promise<number | void>) => async (args: A): Promise<void> => {
  let code: number | void = 0;
  const handled = await handleErrors(args.verbose, async () => { code = await impl(args); });
  process.exitCode = handled !== 0 ? handled : (code ?? 0);
};

const lsCommand: CommandModule<object, CacheLocationArgs> = {
  command: 'ls',
  describe: 'List the feature extractors (backbone + layer + pooling + preprocessing) in the cache, and any shard files beside it.',
  builder: (yargs) => withCacheLocation(yargs)
    .example('$0 cache ls', 'What the default cache holds')
    .example('$0 cache ls --cache-dir /shared/cache --json', 'As JSON'),
  handler: run(cacheLs),
};

const infoCommand: CommandModule<object, CacheInfoArgs> = {
  command: 'info [extractor]',
  describe: 'Show the cache file\'s size and counts, or one extractor\'s full spec.',
  builder: (yargs) => withCacheLocation(yargs)
    .positional('extractor', { type: 'string', describe: 'Extractor key or a unique prefix (≥ 6 characters) from `finetune cache ls`.' })
    .example('$0 cache info', 'Path, size, extractors and vectors of the default cache')
    .example('$0 cache info 3fa4c2e1b0d9', 'Backbone sha256, layer, pooling and preprocessing of one extractor'),
  handler: run(cacheInfo),
};

const pruneCommand: CommandModule<object, CachePruneArgs> = {
  command: 'prune',
  describe: 'Delete cached vectors: one extractor, those unused for N days, or all.',
  builder: (yargs) => withCacheLocation(yargs)
    .option('extractor', { type: 'string', requiresArg: true, describe: 'Extractor key or unique prefix to delete.' })
    .option('older-than-days', { type: 'number', requiresArg: true, describe: 'Delete extractors not used for more than this many days.' })
    .option('all', { type: 'boolean', default: false, describe: 'Delete everything.' })
    .example('$0 cache prune --older-than-days 30', 'Drop the vectors of backbones not used for a month')
    .example('$0 cache prune --extractor 3fa4c2e1b0d9', 'Drop one extractor') as unknown as Argv<CachePruneArgs>,
  handler: run(cachePrune),
};

const exportCommand: CommandModule<object, CacheExportArgs> = {
  command: 'export',
  describe: 'Write features.npy (float32 [n, d]), labels.npy (int32 [n]), files.txt and classes.txt for NumPy.',
  builder: (yargs) => withCacheLocation(yargs)
    .option('extractor', { type: 'string', requiresArg: true, describe: 'Extractor key or prefix (default: the only one in the cache).' })
    .option('data', { alias: 'd', type: 'string', requiresArg: true, describe: 'Dataset giving the rows and labels (class indices); without it every vector, label −1.' })
    .option('out', { alias: 'o', type: 'string', demandOption: true, requiresArg: true, describe: 'Output folder.' })
    .example('$0 cache export --data ./photos --out ./features', 'Then in Python: X = np.load("features/features.npy"); y = np.load("features/labels.npy")')
    .example('$0 cache export --extractor 3fa4c2e1 --cache /shared/cache/embeddings.sqlite --out ./all', 'Every vector of one extractor'),
  handler: run(cacheExport),
};

const mergeCommand: CommandModule<object, CacheMergeArgs> = {
  command: 'merge [sources..]',
  describe: 'Merge shard caches into one cache (idempotent; rerun after more shards finish). Reports missing or unfinished shards by number; exit code 1 unless complete.',
  builder: (yargs) => withCacheLocation(yargs)
    .positional('sources', { type: 'string', array: true, describe: 'Shard cache files or folders (default: every embeddings.shard-K-of-N.sqlite in --cache-dir).' })
    .option('out', { alias: 'o', type: 'string', requiresArg: true, describe: 'Target cache file or folder (default: <cache-dir>/embeddings.sqlite, what training reads with the same --cache-dir).' })
    .option('data', { alias: 'd', type: 'string', requiresArg: true, describe: 'Dataset to check every shard against (hashes every image once).' })
    .option('extractor', { type: 'string', requiresArg: true, describe: 'Extractor to check when the shards hold several.' })
    .option('allow-mixed', { type: 'boolean', default: false, describe: 'Merge shards made with different backbones/layers/preprocessing (kept apart).' })
    .option('allow-incomplete', { type: 'boolean', default: false, describe: 'Exit 0 even when shards are missing or unfinished.' })
    .example('$0 cache merge --cache-dir /shared/cache', 'All shard files of /shared/cache → /shared/cache/embeddings.sqlite')
    .example('$0 cache merge shards/embeddings.shard-*-of-4.sqlite --out merged/', 'Named files → merged/embeddings.sqlite')
    .example('$0 cache merge --cache-dir /shared/cache --data /data/photos', 'Also check each shard holds every image it should') as unknown as Argv<CacheMergeArgs>,
  handler: run(cacheMerge),
};

const statusCommand: CommandModule<object, CacheStatusArgs> = {
  command: 'status',
  describe: 'Per shard: images expected (with --data), done, failed; which shards are missing or unfinished.',
  builder: (yargs) => withPreprocessOptions(withBackboneOptions(withCacheLocation(yargs), false))
    .option('data', { alias: 'd', type: 'string', requiresArg: true, describe: 'Dataset to compute the images expected per shard (hashes every image once).' })
    .option('extractor', { type: 'string', requiresArg: true, describe: 'Extractor key or prefix to count (default: the only one; or give --backbone).' })
    .option('shards', { type: 'number', requiresArg: true, describe: 'Only shards of N; lists all N even before any has started.' })
    .example('$0 cache status --cache-dir /shared/cache', 'Which shards are done, still running or dead')
    .example('$0 cache status --cache-dir /shared/cache --data /data/photos --backbone mobilenetv2', 'Expected vs done per shard for this dataset and backbone'),
  handler: run(cacheStatus),
};

export const cacheCommand: CommandModule<object, object> = {
  command: 'cache <command>',
  describe: 'Inspect, prune, export and merge embedding caches (ls | info | prune | export | merge | status).',
  builder: (yargs) => yargs
    .command(lsCommand).command(infoCommand).command(pruneCommand).command(exportCommand).command(mergeCommand).command(statusCommand)
    .demandCommand(1, 'Pick a cache command: ls, info, prune, export, merge or status.'),
  handler: () => undefined,
};

// #region implementations (workflow modules load lazily)

async function cachePathOf(args: CacheLocationArgs): Promise<string> {
  const { embedCachePath } = await import('../../workflows/embed-dataset.js');
  return embedCachePath({
    ...(args.cache !== undefined ? { cachePath: args.cache } : {}),
    ...(args.cacheDir !== undefined ? { cacheDir: args.cacheDir } : {}),
    ...(args.home !== undefined ? { home: args.home } : {}),
  });
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const short = (key: string): string => key.slice(0, 12);

export async function cacheLs(args: CacheLocationArgs): Promise<void> {
  const path = await cachePathOf(args);
  const { existsSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  const { EmbeddingCache } = await import('../../embed/embedding-cache.js');
  const { cacheStats, listExtractors } = await import('../../embed/cache-admin.js');
  const { listShardFiles } = await import('../../workflows/shard.js');
  const shardFiles = args.cache === undefined ? listShardFiles(dirname(path)) : [];
  const extractors = existsSync(path) ? withReadonly(EmbeddingCache, path, (cache) => listExtractors(cache)) : [];
  const shards = shardFiles.map((file) => ({ ...file.shard, path: file.path,
    vectors: withReadonly(EmbeddingCache, file.path, (cache) => cacheStats(cache).vectors) }));
  if (args.json) { printJson({ path, exists: existsSync(path), extractors, shards }); return; }
  const out = process.stdout;
  out.write(`${bold('Cache', out)}: ${path}${existsSync(path) ? '' : dim(' (does not exist yet)', out)}\n`);
  if (extractors.length === 0) out.write('No extractors yet (run `finetune embed`).\n');
  else {
    out.write(`${formatTable(['extractor', 'backbone sha256', 'layer', 'pooling', 'input', 'dim', 'vectors', 'size', 'last used'],
      extractors.map((info) => [short(info.key), short(info.spec.backboneSha256), info.spec.layer, info.spec.pooling,
        `${info.spec.preprocess.cropSize}px`, info.embeddingDim, info.vectors, formatBytes(info.sizeBytes), info.lastUsedAt.slice(0, 10)]))}\n`);
  }
  if (shards.length > 0) {
    out.write(`\n${bold('Shard files', out)} beside it (merge with \`finetune cache merge --cache-dir ${dirname(path)}\`):\n`);
    out.write(`${formatTable(['shard', 'vectors', 'file'], shards.map((s) => [`${s.index}/${s.count}`, s.vectors, s.path]))}\n`);
  }
}

export async function cacheInfo(args: CacheInfoArgs): Promise<void> {
  const path = await cachePathOf(args);
  const { EmbeddingCache } = await import('../../embed/embedding-cache.js');
  const { cacheStats, listExtractors, resolveExtractor } = await import('../../embed/cache-admin.js');
  const { describePreprocessSpec } = await import('../../image/preprocess-spec.js');
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
    for (const info of extractors) out.write(`  ${short(info.key)}  ${info.vectors} × ${info.embeddingDim}-d  layer ${info.spec.layer}\n`);
    if (extractors.length > 0) out.write(dim(`Details: finetune cache info <extractor>\n`, out));
  } finally {
    cache.close();
  }
}

export async function cachePrune(args: CachePruneArgs): Promise<void> {
  const path = await cachePathOf(args);
  const { existsSync } = await import('node:fs');
  const { FinetuneError } = await import('../../errors.js');
  if (args.extractor === undefined && args.olderThanDays === undefined && !args.all) {
    throw new FinetuneError('INVALID_OPTION', 'Nothing to prune: no extractor, age or --all given.',
      'Pass --extractor KEY (see `finetune cache ls`), --older-than-days N or --all.');
  }
  if (!existsSync(path)) throw new FinetuneError('FILE_NOT_FOUND', `No embedding cache at "${path}".`, 'Check --cache-dir / --cache; `finetune cache ls` shows where the cache is.');
  const { EmbeddingCache } = await import('../../embed/embedding-cache.js');
  const { pruneCache } = await import('../../embed/cache-admin.js');
  const cache = EmbeddingCache.open({ path });
  try {
    const result = pruneCache(cache, {
      ...(args.extractor !== undefined ? { extractor: args.extractor } : {}),
      ...(args.olderThanDays !== undefined ? { olderThanDays: args.olderThanDays } : {}),
      ...(args.all ? { all: true } : {}),
    });
    if (args.json) { printJson(result); return; }
    process.stdout.write(`Removed ${result.removedExtractors.length} extractor(s) and ${result.removedVectors} vectors; ` +
      `${formatBytes(result.sizeBytesBefore)} → ${formatBytes(result.sizeBytesAfter)}\n`);
  } finally {
    cache.close();
  }
}

export async function cacheExport(args: CacheExportArgs): Promise<void> {
  const path = await cachePathOf(args);
  const { exportEmbeddings } = await import('../../workflows/export-embeddings.js');
  const result = await exportEmbeddings(args.out, {
    cachePath: path,
    ...(args.extractor !== undefined ? { extractor: args.extractor } : {}),
    ...(args.data !== undefined ? { data: args.data } : {}),
  });
  if (args.json) { printJson(result); return; }
  const out = process.stdout;
  out.write(`${green('Exported', out)} ${result.count} × ${result.embeddingDim}-d vectors of extractor ${short(result.extractor)}\n` +
    `  ${result.featuresPath}\n  ${result.labelsPath}\n  ${result.filesPath}\n${result.classesPath ? `  ${result.classesPath}\n` : ''}`);
  if (result.missing.length > 0) {
    out.write(yellow(`${result.missing.length} image(s) of the dataset are not in the cache and were left out` +
      ` (run \`finetune embed\` first): ${result.missing.slice(0, 5).join(', ')}${result.missing.length > 5 ? ', …' : ''}\n`, out));
  }
  out.write(dim(`Python: import numpy as np; X = np.load("${result.featuresPath}"); y = np.load("${result.labelsPath}")\n`, out));
}

export async function cacheMerge(args: CacheMergeArgs): Promise<number> {
  const { resolve } = await import('node:path');
  const { embeddingsDir } = await import('../../util/paths.js');
  const { mergeShardCaches } = await import('../../workflows/shard-caches.js');
  const { defaultCachePath } = await import('../../embed/embedding-cache.js');
  const cacheDir = args.cacheDir !== undefined ? resolve(args.cacheDir) : embeddingsDir(args.home);
  const sources = args.sources !== undefined && args.sources.length > 0 ? args.sources : [cacheDir];
  const target = args.out ?? args.cache ?? defaultCachePath(cacheDir);
  const onProgress = createProgressRenderer({ json: args.json, quiet: args.quiet });
  const result = await mergeShardCaches(sources, target, {
    allowMixedExtractors: args.allowMixed, onProgress,
    ...(args.data !== undefined ? { data: args.data } : {}),
    ...(args.extractor !== undefined ? { extractor: args.extractor } : {}),
  });
  const exitCode = result.complete || args.allowIncomplete ? 0 : 1;
  if (args.json) { printJson(result); return exitCode; }
  const out = process.stdout;
  out.write(`${green('Merged', out)} ${result.merge.sources.length} cache file(s) into ${result.target}: ` +
    `${result.merge.inserted} new vectors, ${result.merge.alreadyPresent} already there\n`);
  if (result.status !== null) printShardStatus(result.status, 'merge');
  return exitCode;
}

export async function cacheStatus(args: CacheStatusArgs): Promise<void> {
  const { shardCacheStatus } = await import('../../workflows/shard-caches.js');
  let extractor = args.extractor;
  if (extractor === undefined && args.backbone !== undefined) {
    const { prepareBackbone } = await import('../../workflows/prepare-backbone.js');
    const { extractorKey } = await import('../../embed/embedding-cache.js');
    const preprocess = preprocessFlags(args);
    const prepared = await prepareBackbone(args.backbone, {
      offline: args.offline ?? false,
      ...(args.layer !== undefined ? { layer: args.layer } : {}),
      ...(args.pooling !== undefined ? { pooling: args.pooling } : {}),
      ...(args.mirror !== undefined ? { mirror: args.mirror } : {}),
      ...(args.home !== undefined ? { home: args.home } : {}),
      ...(preprocess !== undefined ? { preprocess } : {}),
    });
    extractor = extractorKey(prepared.extractor.spec);
  }
  const onProgress = createProgressRenderer({ json: args.json, quiet: args.quiet });
  const { dirname } = await import('node:path');
  const status = await shardCacheStatus({
    onProgress,
    ...(args.cache !== undefined ? { cacheDir: dirname(args.cache) } : args.cacheDir !== undefined ? { cacheDir: args.cacheDir } : {}),
    ...(args.home !== undefined ? { home: args.home } : {}),
    ...(args.data !== undefined ? { data: args.data } : {}),
    ...(extractor !== undefined ? { extractor } : {}),
    ...(args.shards !== undefined ? { shards: args.shards } : {}),
  });
  if (args.json) { printJson(status); return; }
  printShardStatus(status, 'status');
}

type StatusResult = Awaited<ReturnType<typeof import('../../workflows/shard-caches.js').shardCacheStatus>>;

function printShardStatus(status: StatusResult, context: 'merge' | 'status'): void {
  const out = process.stdout;
  if (status.dataset) {
    out.write(`Dataset ${status.dataset.root}: ${status.dataset.images} images, ${status.dataset.distinct} distinct` +
      `${status.dataset.unreadable.length > 0 ? `, ${status.dataset.unreadable.length} unreadable` : ''}\n`);
  }
  if (status.extractorKey) out.write(dim(`extractor ${short(status.extractorKey)}\n`, out));
  for (const group of status.groups) {
    out.write(`\n${bold(`${group.count} shard(s)`, out)}${status.cacheDir ? ` in ${status.cacheDir}` : ''}:\n`);
    const cell = (value: number | null) => (value === null ? '-' : String(value));
    out.write(`${formatTable(['shard', 'state', 'expected', 'done', 'failed', 'remaining', 'worker'], group.shards.map((s) => [
      `${s.index}/${s.count}`, s.state, cell(s.expected), String(s.done), String(s.failed), cell(s.remaining),
      s.worker ? `${s.worker.host}:${s.worker.pid} ${s.worker.finishedAt ? `finished ${s.worker.finishedAt}` : `started ${s.worker.startedAt}`}` : '',
    ]))}\n`);
    if (group.complete) { out.write(green(`All ${group.count} shards complete.\n`, out)); continue; }
    if (group.missing.length > 0) out.write(yellow(`Missing shards (no file): ${group.missing.join(', ')}\n`, out));
    if (group.incomplete.length > 0) {
      out.write(yellow(`Unfinished or incomplete shards: ${group.incomplete.join(', ')} (still running, or the worker died)\n`, out));
    }
    const rerun = [...group.missing, ...group.incomplete].sort((a, b) => a - b);
    out.write(`Rerun (it resumes): ${rerun.map((k) => `finetune embed --shard ${k}/${group.count} …`).join('; ')}` +
      `${context === 'merge' ? ', then merge again' : ''}\n`);
  }
}

function withReadonly<T>(cacheClass: typeof import('../../embed/embedding-cache.js').EmbeddingCache, path: string,
  fn: (cache: import('../../embed/embedding-cache.js').EmbeddingCache) => T): T {
  const cache = cacheClass.open({ path, readonly: true });
  try {
    return fn(cache);
  } finally {
    cache.close();
  }
}

// #endregion
