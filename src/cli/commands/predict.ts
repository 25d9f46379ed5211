import type { CommandModule, InferredOptionTypes, Options } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { commonOptions, exportedModelPositional } from '../options.js';
import { createProgressRenderer } from '../progress.js';

const predictOptions = {
  ...commonOptions,
  top: { alias: 'k', type: 'number', default: 3, describe: 'Classes to show per image.' },
  device: { choices: ['auto', 'cpu', 'cuda'], default: 'auto', describe: 'Where the model runs. auto = CUDA when installed, else CPU.' },
  'batch-size': { type: 'number', describe: 'Images per run (default 16).' },
  tta: { type: 'boolean', default: false, describe: 'Test-time augmentation: average with the horizontally flipped image.' },
} as const satisfies Record<string, Options>;
const predictPositionals = {
  model: exportedModelPositional,
  inputs: { type: 'string', array: true, demandOption: true, describe: 'Image files or folders (searched recursively).' },
} as const;

export const predictCommand: CommandModule<object, InferredOptionTypes<typeof predictOptions & typeof predictPositionals>> = {
  command: 'predict <model> <inputs..>',
  describe: 'Classify images with an exported model (class names and preprocessing are read from the model).',
  builder: (yargs) => yargs.options(predictOptions)
    .positional('model', predictPositionals.model)
    .positional('inputs', predictPositionals.inputs)
    .example('$0 predict runs/latest/model.onnx cat.jpg dog.png', 'Top-3 classes of two images')
    .example('$0 predict model.onnx ./photos --top 1 --json', 'Every image in a folder, as JSON'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { predict, formatPredictions } = await import('../../workflows/predict.js');
      const predictions = await predict(args.model, args.inputs, {
        top: args.top, device: args.device, tta: args.tta ? 'flip' : 'none', batchSize: args.batchSize,
        onProgress: createProgressRenderer({ json: args.json, quiet: args.quiet }),
      });
      process.stdout.write(formatPredictions(predictions, { json: args.json }));
      if (predictions.some((p) => p.error !== undefined) && predictions.every((p) => p.error !== undefined)) process.exitCode = 1;
    });
  },
};
