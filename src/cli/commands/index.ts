/** The explicit list of CLI commands, in the order `finetune --help` shows them. */
import type { Argv } from 'yargs';
import { cacheCommand } from './cache/command-object.js';
import { embedCommand } from './embed.js';
import { evaluateCommand } from './evaluate.js';
import { inspectCommand } from './inspect.js';
import { modelsCommand } from './models.js';
import { oneShotCommand } from './one-shot.js';
import { predictCommand } from './predict.js';
import { reportCommand } from './report.js';
import { serveCommand } from './serve.js';
import { sweepCommand } from './sweep.js';
import { trainCommand } from './train.js';

/** Registers every command (each `.command` call keeps its own argument types, so the list needs no casts). */
export function withCommands<T>(yargs: Argv<T>): Argv<T> {
  return yargs
    .command(oneShotCommand)
    .command(trainCommand)
    .command(sweepCommand)
    .command(embedCommand)
    .command(cacheCommand)
    .command(predictCommand)
    .command(evaluateCommand)
    .command(inspectCommand)
    .command(modelsCommand)
    .command(reportCommand)
    .command(serveCommand);
}
