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
      const path = await writeReport(args.runDir);
      process.stdout.write(args.json ? `${JSON.stringify({ report: path })}\n` : `Report: file://${path}\n`);
    });
  },
};
