import type { CommandModule, InferredOptionTypes } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { runOptions, withRunOptions } from '../run-options.js';

export const trainCommand: CommandModule<object, InferredOptionTypes<typeof runOptions>> = {
  command: 'train',
  describe: 'Embed (cached) and fit a new head; writes head.onnx, history, metrics and run.json (no full-model export).',
  builder: (yargs) => withRunOptions(yargs)
    .example('$0 train -b mobilenetv2 -d ./photos --learning-rate 3e-4 --patience 10', 'Try other hyper-parameters: embeddings come from the cache')
    .example('$0 train -b resnet50 -d ./photos --hidden 256 --dropout 0.5 --json', 'An MLP head, summary as JSON'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { runOneShot } = await import('./run-one-shot.js');
      await runOneShot(args, { defaultExport: 'head', withPreprocessing: args.withPreprocessing });
    });
  },
};
