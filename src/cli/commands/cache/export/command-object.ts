import type { CommandModule, InferredOptionTypes } from 'yargs';
import { runSubcommand } from '../cache-options.js';
import { cacheExportOptions } from './options.js';

export const cacheExportCommand: CommandModule<object, InferredOptionTypes<typeof cacheExportOptions>> = {
  command: 'export',
  describe: 'Write features.npy (float32 [n, d]), labels.npy (int32 [n]), files.txt and classes.txt for NumPy.',
  builder: (yargs) => yargs.options(cacheExportOptions)
    .example('$0 cache export --data ./photos --out ./features', 'Then in Python: X = np.load("features/features.npy"); y = np.load("features/labels.npy")')
    .example('$0 cache export --extractor 3fa4c2e1 --cache /shared/cache/embeddings.sqlite --out ./all', 'Every vector of one extractor'),
  handler: runSubcommand(async () => (await import('./export.js')).cacheExport),
};
