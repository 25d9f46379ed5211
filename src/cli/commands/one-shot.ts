import type { CommandModule } from 'yargs';

export const oneShotCommand: CommandModule = {
  command: '$0',
  describe: 'One-shot: resolve backbone → embed (cached) → train → export → parity check.',
  builder: (yargs) => yargs,
  handler: () => {
    process.stderr.write('not implemented yet\n');
  },
};
