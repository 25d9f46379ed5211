/** The explicit list of CLI commands, in the order `finetune --help` shows them. */
import type { CommandModule } from 'yargs';
import { cacheCommand } from './cache.js';
import { embedCommand } from './embed.js';
import { evaluateCommand } from './evaluate.js';
import { inspectCommand } from './inspect.js';
import { modelsCommand } from './models.js';
import { predictCommand } from './predict.js';
import { reportCommand } from './report.js';
import { serveCommand } from './serve.js';
import { sweepCommand } from './sweep.js';
import { trainCommand } from './train.js';

export { oneShotCommand } from './one-shot.js';

export const commands: ReadonlyArray<CommandModule<object, never>> = [
  trainCommand as CommandModule<object, never>,
  sweepCommand as CommandModule<object, never>,
  embedCommand as CommandModule<object, never>,
  cacheCommand as CommandModule<object, never>,
  predictCommand as CommandModule<object, never>,
  evaluateCommand as CommandModule<object, never>,
  inspectCommand as CommandModule<object, never>,
  modelsCommand as CommandModule<object, never>,
  reportCommand as CommandModule<object, never>,
  serveCommand as CommandModule<object, never>,
];
