import type { CommandModule, InferredOptionTypes, Options } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { commonOptions, downloadOptions, minDownloadSpeedArg } from '../options.js';
import { createProgressRenderer } from '../progress.js';
import { formatBytes } from '../../util/format.js';
import { formatTable, green } from '../style.js';

const modelsOptions = {
  ...commonOptions,
  home: { type: 'string', describe: 'finetune home (default: $FINETUNE_HOME or ~/.cache/finetune).' },
} as const satisfies Record<string, Options>;
const idPositional = { id: { type: 'string', demandOption: true } } as const;
const pullOptions = {
  ...modelsOptions,
  mirror: { type: 'string', describe: 'Base URL of a zoo mirror (default: $FINETUNE_ZOO_MIRROR).' },
  offline: { type: 'boolean', default: false, describe: 'Only check the cache.' },
  ...downloadOptions,
} as const satisfies Record<string, Options>;

type ModelsArgs = InferredOptionTypes<typeof modelsOptions>;
type ModelIdArgs = InferredOptionTypes<typeof modelsOptions & typeof idPositional>;

const listCommand: CommandModule<object, ModelsArgs> = {
  command: 'list',
  describe: 'The zoo backbones, their feature width and whether they are cached.',
  builder: (yargs) => yargs.options(modelsOptions).example('$0 models list', 'See what --backbone accepts'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { listModels } = await import('../../registry/catalog.js');
      const { modelInfo } = await import('../../registry/model-cache.js');
      const { cachedHubAlias, hubAliasReference, listHubAliases } = await import('../../registry/hub-catalog.js');
      const infos = await Promise.all(listModels().map((entry) => modelInfo(entry.id, args.home)));
      const hub = await Promise.all(listHubAliases().map(async (entry) => ({ entry, path: await cachedHubAlias(entry, args.home) })));
      if (args.json) {
        process.stdout.write(`${JSON.stringify([
          ...infos.map((info) => ({ id: info.id, aliases: info.entry.aliases, embeddingDim: info.entry.feature.embeddingDim,
            sizeBytes: info.entry.sizeBytes, cached: info.cached, status: info.status, path: info.path })),
          ...hub.map(({ entry, path }) => ({ id: entry.alias, aliases: entry.aliases, source: hubAliasReference(entry),
            sizeBytes: entry.sizeBytes, verified: entry.verified, cached: path !== null, path })),
        ], null, 2)}\n`);
        return;
      }
      const rows = infos.map((info) => [info.id, info.entry.aliases.join(', '), info.entry.feature.embeddingDim,
        formatBytes(info.entry.sizeBytes), info.cached ? green(info.status, process.stdout) : '-', info.entry.license]);
      const hubRows = hub.map(({ entry, path }) => [entry.alias, entry.aliases.join(', '), `hf:${entry.repo}`,
        entry.sizeBytes !== null ? formatBytes(entry.sizeBytes) : `~${entry.approxSizeMb} MB`, path ? green('cached', process.stdout) : '-', entry.license]);
      process.stdout.write(`${formatTable(['id', 'aliases', 'features', 'size', 'cached', 'license'], rows)}\n\n` +
        `Hugging Face Hub (any hf:owner/repo works too; see README):\n${formatTable(['id', 'aliases', 'source', 'size', 'cached', 'license'], hubRows)}\n`);
    });
  },
};

const infoCommand: CommandModule<object, ModelIdArgs> = {
  command: 'info <id>',
  describe: 'Everything the registry knows about a backbone: URLs, sha256, input, preprocessing, feature tensor.',
  builder: (yargs) => yargs.options(modelsOptions).positional('id', idPositional.id)
    .example('$0 models info resnet50', 'Show the catalog entry and cache status'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { modelInfo } = await import('../../registry/model-cache.js');
      const info = await modelInfo(args.id, args.home);
      if (args.json) { process.stdout.write(`${JSON.stringify(info, null, 2)}\n`); return; }
      const e = info.entry;
      const lines = [
        `${e.id} (${e.name}) — ${e.description}`,
        `aliases:      ${e.aliases.join(', ') || '-'}`,
        `zoo path:     ${e.path}`,
        `urls:         ${e.urls.join('\n              ')}`,
        `sha256:       ${e.sha256}`,
        `size:         ${formatBytes(e.sizeBytes)} (${e.sizeBytes} bytes), opset ${e.opset}, license ${e.license}`,
        `input:        ${e.input.name} [${e.input.dims.join(', ')}] ${e.input.layout}${e.fixedBatch ? ' (fixed batch 1, made symbolic when cut)' : ''}`,
        `preprocess:   ${e.preprocess.resizeMode} ${e.preprocess.resizeSize} (${e.preprocess.resizeFilter}) → crop ${e.preprocess.cropSize}, scale ${e.preprocess.scale.toPrecision(4)}, mean [${e.preprocess.mean.join(', ')}], std [${e.preprocess.std.join(', ')}], ${e.preprocess.channelOrder}, ${e.preprocess.layout}`,
        `features:     ${e.feature.tensor} [${e.feature.dims.join(', ')}] ${e.feature.dtype} → ${e.feature.pooling} → ${e.feature.embeddingDim}-d (${e.feature.source})`,
        `cache:        ${info.status}${info.sizeBytes !== null ? `, ${formatBytes(info.sizeBytes)}` : ''} at ${info.path}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  },
};

const pullCommand: CommandModule<object, InferredOptionTypes<typeof pullOptions & typeof idPositional>> = {
  command: 'pull <id>',
  describe: 'Download a backbone (zoo id or hf:owner/repo…) into the cache and verify its sha256.',
  builder: (yargs) => yargs.options(pullOptions).positional('id', idPositional.id)
    .example('$0 models pull vgg16', 'Fetch VGG16 (553 MB) from the Hugging Face zoo mirror')
    .example('$0 models pull mobilenetv2-int8 --mirror http://127.0.0.1:8080/', 'Fetch through a local mirror')
    .example('$0 models pull hf:Xenova/dinov2-small --onnx-variant quantized', 'Fetch a Hub model (HF_ENDPOINT for a mirror, HF_TOKEN if gated)'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const onProgress = createProgressRenderer({ json: args.json, quiet: args.quiet });
      const { isHubReference } = await import('../../registry/hub-reference.js');
      const { findHubAlias, hubAliasReference } = await import('../../registry/hub-catalog.js');
      const { findModel } = await import('../../registry/catalog.js');
      const alias = isHubReference(args.id) || findModel(args.id) ? undefined : findHubAlias(args.id);
      if (isHubReference(args.id) || alias) {
        const { resolveHubModel } = await import('../../registry/hub.js');
        const model = await resolveHubModel(alias ? hubAliasReference(alias) : args.id, {
          home: args.home, offline: args.offline, minSpeedBytesPerSec: minDownloadSpeedArg(args.minDownloadSpeed), variant: args.onnxVariant, onProgress,
        });
        const { config: _config, preprocessorConfig: _preprocessor, ...summary } = model;
        if (args.json) { process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`); return; }
        process.stdout.write(`${model.source === 'download' ? 'Downloaded' : `Already cached (${model.source})`} ${model.reference}: ${model.file}\n` +
          `sha256 ${model.sha256} (${formatBytes(model.sizeBytes)})\n`);
        return;
      }
      const { downloadModel } = await import('../../registry/download.js');
      const result = await downloadModel(args.id, {
        home: args.home, mirror: args.mirror, offline: args.offline, minSpeedBytesPerSec: minDownloadSpeedArg(args.minDownloadSpeed), onProgress,
      });
      if (args.json) { process.stdout.write(`${JSON.stringify(result, null, 2)}\n`); return; }
      process.stdout.write(`${result.fromCache ? 'Already cached' : 'Downloaded'} ${result.id}: ${result.path}\n` +
        `sha256 ${result.sha256} verified (${formatBytes(result.sizeBytes)})\n`);
    });
  },
};

const rmCommand: CommandModule<object, ModelIdArgs> = {
  command: 'rm <id>',
  describe: 'Delete a cached backbone.',
  builder: (yargs) => yargs.options(modelsOptions).positional('id', idPositional.id)
    .example('$0 models rm vgg16', 'Free 553 MB'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { removeModel } = await import('../../registry/model-cache.js');
      const result = await removeModel(args.id, args.home);
      if (args.json) { process.stdout.write(`${JSON.stringify(result, null, 2)}\n`); return; }
      process.stdout.write(result.removed ? `Removed ${result.id} (${formatBytes(result.freedBytes)} freed)\n` : `${result.id} was not cached\n`);
    });
  },
};

export const modelsCommand: CommandModule = {
  command: 'models <command>',
  describe: 'The model zoo registry: list | info <id> | pull <id> | rm <id>.',
  builder: (yargs) => yargs.command(listCommand).command(infoCommand).command(pullCommand).command(rmCommand)
    .demandCommand(1, 'Pick one of: list, info, pull, rm.'),
  handler: () => undefined,
};
