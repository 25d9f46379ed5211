import type { CommandModule, InferredOptionTypes, Options } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { runOptions, withRunOptions } from '../run-options.js';

const oneShotOptions = {
  ...runOptions,
  preprocessing: { type: 'boolean', hidden: true, describe: 'Alias target of --no-preprocessing.' },
} as const satisfies Record<string, Options>;

export const oneShotCommand: CommandModule<object, InferredOptionTypes<typeof oneShotOptions>> = {
  command: '$0',
  describe: 'One-shot: resolve backbone → embed (cached) → train head → export model.onnx → parity check.',
  builder: (yargs) => withRunOptions(yargs)
    .options({ preprocessing: oneShotOptions.preprocessing })
    .example('$0 --backbone mobilenetv2 --classes 3 --data ./photos', 'Embed, train and export with the defaults (Adam 1e-3, patience 5, restore best)')
    .example('$0 -b resnet50 -c 5 -d ./flowers --hidden 256 --dropout 0.3 --out runs/flowers', 'An MLP head, into a named run folder')
    .example('$0 -b ./my-classifier.onnx -c 2 -d ./data --input-size 299 --layer avg_pool', 'Any ONNX classifier, cut at a named tensor')
    .example('$0 -b mobilenetv2 -d ./photos --augment flip,crop --augment-views 4', 'Train on 4 cached augmented views per training image plus the original'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { runOneShot } = await import('./run-one-shot.js');
      // --no-preprocessing is yargs' negation of the hidden `preprocessing` flag, the short form of --no-with-preprocessing.
      await runOneShot(args, { defaultExport: 'full', withPreprocessing: args.withPreprocessing && args.preprocessing !== false });
    });
  },
};
