import type { CommandModule, InferredOptionTypes, Options } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { commonOptions, modelLimitOptions } from '../options.js';
import { createProgressRenderer } from '../progress.js';

const inspectOptions = { ...commonOptions, ...modelLimitOptions } as const satisfies Record<string, Options>;
const inspectPositionals = {
  model: { type: 'string', demandOption: true, describe: 'An .onnx file, a zoo id, or a Hugging Face Hub model (hf:owner/repo…, dinov2-small).' },
} as const;

export const inspectCommand: CommandModule<object, InferredOptionTypes<typeof inspectOptions & typeof inspectPositionals>> = {
  command: 'inspect <model>',
  describe: 'Show a model\'s inputs, outputs, opsets, size and candidate feature tensors.',
  builder: (yargs) => yargs.options(inspectOptions)
    .positional('model', inspectPositionals.model)
    .example('$0 inspect resnet50-v1-7.onnx', 'Find the tensor to pass to --layer')
    .example('$0 inspect runs/latest/model.onnx --json', 'Machine-readable summary')
    .example('$0 inspect hf:Xenova/dinov2-small', 'Token tensors of a Hub model and their poolings (cls, mean-tokens)'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { readModel } = await import('../../onnx/read-model.js');
      const { inspectModel } = await import('../../onnx/inspect-model.js');
      const { formatInspection } = await import('../../onnx/format-inspection.js');
      const { modelLimitsFromFlags } = await import('./shared.js');
      const { isHubReference } = await import('../../registry/hub-reference.js');
      const { findHubAlias } = await import('../../registry/hub-catalog.js');
      const { findModel } = await import('../../registry/catalog.js');
      const { existsSync } = await import('node:fs');
      let path = args.model;
      if (!existsSync(path) && (isHubReference(path) || findHubAlias(path) || findModel(path))) {
        const { resolveBackbone } = await import('../../registry/resolve-backbone.js');
        path = (await resolveBackbone(path, { onProgress: createProgressRenderer({ json: args.json, quiet: args.quiet }) })).path;
      }
      // Inspection needs the graph, not the weights: external data files are never opened.
      const model = await readModel(path, { externalData: 'keep', limits: modelLimitsFromFlags(args) });
      const inspection = inspectModel(model);
      process.stdout.write(args.json ? `${JSON.stringify(inspection, null, 2)}\n` : `${formatInspection(inspection)}\n`);
    });
  },
};
