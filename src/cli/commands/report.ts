import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CommandModule, InferredOptionTypes } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { commonOptions } from '../options.js';

const reportPositionals = { 'run-dir': { type: 'string', demandOption: true, describe: 'A run folder written by `finetune`.' } } as const;

export const reportCommand: CommandModule<object, InferredOptionTypes<typeof commonOptions & typeof reportPositionals>> = {
  command: 'report <run-dir>',
  describe: 'Regenerate report.html (curves, confusion matrix, worst images, manifest) for a run folder.',
  builder: (yargs) => yargs.options(commonOptions)
    .positional('run-dir', reportPositionals['run-dir'])
    .example('$0 report runs/latest', 'Write runs/latest/report.html'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { writeReport } = await import('../../report/index.js');
      const path = resolve(await writeReport(args.runDir));
      const url = pathToFileURL(path).href;   // absolute and percent-encoded: clickable in a terminal
      process.stdout.write(args.json ? `${JSON.stringify({ report: path, url })}\n` : `Report: ${url}\n`);
    });
  },
};
