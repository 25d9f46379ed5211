import type { CommandModule, InferredOptionTypes, Options } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { commonOptions, exportedModelPositional } from '../options.js';
import { createProgressRenderer } from '../progress.js';

const evaluateOptions = {
  ...commonOptions,
  data: { alias: 'd', type: 'string', demandOption: true, describe: 'Labelled folder (one sub-folder per class, named as in the model).' },
  device: { choices: ['auto', 'cpu', 'cuda'], default: 'auto', describe: 'Where the model runs. auto = CUDA when installed, else CPU.' },
  'batch-size': { type: 'number', describe: 'Images per run (default 16).' },
  tta: { type: 'boolean', default: false, describe: 'Test-time augmentation: average with the horizontally flipped image.' },
} as const satisfies Record<string, Options>;
const evaluatePositionals = { model: exportedModelPositional } as const;

export const evaluateCommand: CommandModule<object, InferredOptionTypes<typeof evaluateOptions & typeof evaluatePositionals>> = {
  command: 'evaluate <model>',
  describe: 'Accuracy, per-class precision/recall/F1, confusion matrix and the most confidently wrong files.',
  builder: (yargs) => yargs.options(evaluateOptions)
    .positional('model', evaluatePositionals.model)
    .example('$0 evaluate runs/latest/model.onnx --data ./holdout', 'Evaluate on held-out images')
    .example('$0 evaluate model.onnx -d ./holdout --json > metrics.json', 'Machine-readable metrics'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { evaluate, formatEvaluation } = await import('../../workflows/evaluate.js');
      const report = await evaluate(args.model, args.data, {
        device: args.device, batchSize: args.batchSize, tta: args.tta ? 'flip' : 'none',
        onProgress: createProgressRenderer({ json: args.json, quiet: args.quiet }),
      });
      process.stdout.write(formatEvaluation(report, { json: args.json }));
    });
  },
};
