import type { CommandModule } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { withCommonOptions } from '../options.js';
import type { CommonOptions } from '../options.js';
import { createProgressRenderer } from '../progress.js';

export interface EvaluateArgs extends CommonOptions {
  model: string;
  data: string;
  device: 'auto' | 'cpu' | 'cuda';
  batchSize: number | undefined;
  tta: boolean;
}

export const evaluateCommand: CommandModule<object, EvaluateArgs> = {
  command: 'evaluate <model>',
  describe: 'Accuracy, per-class precision/recall/F1, confusion matrix and the most confidently wrong files.',
  builder: (yargs) => withCommonOptions(yargs)
    .positional('model', { type: 'string', demandOption: true, describe: 'A model.onnx exported by finetune.' })
    .option('data', { alias: 'd', type: 'string', demandOption: true, describe: 'Labelled folder (one sub-folder per class, named as in the model).' })
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const })
    .option('batch-size', { type: 'number', describe: 'Images per run (default 16).' })
    .option('tta', { type: 'boolean', default: false, describe: 'Test-time augmentation: average with the horizontally flipped image.' })
    .example('$0 evaluate runs/latest/model.onnx --data ./holdout', 'Evaluate on held-out images')
    .example('$0 evaluate model.onnx -d ./holdout --json > metrics.json', 'Machine-readable metrics') as never,
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { evaluate, formatEvaluation } = await import('../../workflows/evaluate.js');
      const report = await evaluate(args.model, args.data, {
        device: args.device,
        ...(args.tta ? { tta: 'flip' as const } : {}),
        ...(args.batchSize !== undefined ? { batchSize: args.batchSize } : {}),
        onProgress: createProgressRenderer({ json: args.json, quiet: args.quiet }),
      });
      process.stdout.write(formatEvaluation(report, { json: args.json }));
    });
  },
};
