import type { CommandModule, InferredOptionTypes } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { commonOptions } from '../options.js';

const inspectPositionals = { model: { type: 'string', demandOption: true, describe: 'An .onnx file.' } } as const;

export const inspectCommand: CommandModule<object, InferredOptionTypes<typeof commonOptions & typeof inspectPositionals>> = {
  command: 'inspect <model>',
  describe: 'Show a model\'s inputs, outputs, opsets, size and candidate feature tensors.',
  builder: (yargs) => yargs.options(commonOptions)
    .positional('model', inspectPositionals.model)
    .example('$0 inspect resnet50-v1-7.onnx', 'Find the tensor to pass to --layer')
    .example('$0 inspect runs/latest/model.onnx --json', 'Machine-readable summary'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { readModel } = await import('../../onnx/read-model.js');
      const { inspectModel } = await import('../../onnx/inspect-model.js');
      const { formatInspection } = await import('../../onnx/format-inspection.js');
      const inspection = inspectModel(await readModel(args.model));
      process.stdout.write(args.json ? `${JSON.stringify(inspection, null, 2)}\n` : `${formatInspection(inspection)}\n`);
    });
  },
};
