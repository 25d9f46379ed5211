import type { CommandModule } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { withCommonOptions } from '../options.js';
import type { CommonOptions } from '../options.js';
import { createProgressRenderer } from '../progress.js';

export interface PredictArgs extends CommonOptions {
  model: string;
  inputs: string[];
  top: number;
  device: 'auto' | 'cpu' | 'cuda';
  batchSize: number | undefined;
  tta: boolean;
}

export const predictCommand: CommandModule<object, PredictArgs> = {
  command: 'predict <model> <inputs..>',
  describe: 'Classify images with an exported model (class names and preprocessing are read from the model).',
  builder: (yargs) => withCommonOptions(yargs)
    .positional('model', { type: 'string', demandOption: true, describe: 'A model.onnx exported by finetune.' })
    .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'Image files or folders (searched recursively).' })
    .option('top', { alias: 'k', type: 'number', default: 3, describe: 'Classes to show per image.' })
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const })
    .option('batch-size', { type: 'number', describe: 'Images per run (default 16).' })
    .option('tta', { type: 'boolean', default: false, describe: 'Test-time augmentation: average with the horizontally flipped image.' })
    .example('$0 predict runs/latest/model.onnx cat.jpg dog.png', 'Top-3 classes of two images')
    .example('$0 predict model.onnx ./photos --top 1 --json', 'Every image in a folder, as JSON') as never,
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { predict, formatPredictions } = await import('../../workflows/predict.js');
      const predictions = await predict(args.model, args.inputs, {
        top: args.top, device: args.device, tta: args.tta ? 'flip' : 'none',
        ...(args.batchSize !== undefined ? { batchSize: args.batchSize } : {}),
        onProgress: createProgressRenderer({ json: args.json, quiet: args.quiet }),
      });
      process.stdout.write(formatPredictions(predictions, { json: args.json }));
      if (predictions.some((p) => p.error !== undefined) && predictions.every((p) => p.error !== undefined)) process.exitCode = 1;
    });
  },
};
