import type { CommandModule } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { withCommonOptions } from '../options.js';
import type { CommonOptions } from '../options.js';

interface ReportArgs extends CommonOptions { runDir: string }

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <run-dir>',
  describe: 'Regenerate report.html (curves, confusion matrix, worst images, manifest) for a run folder.',
  builder: (yargs) => withCommonOptions(yargs)
    .positional('run-dir', { type: 'string', demandOption: true, describe: 'A run folder written by `finetune`.' })
    .example('$0 report runs/latest', 'Write runs/latest/report.html') as never,
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { writeReport } = await import('../../report/index.js');
      const path = await writeReport(args.runDir);
      process.stdout.write(args.json ? `${JSON.stringify({ report: path })}\n` : `Report: file://${path}\n`);
    });
  },
};
