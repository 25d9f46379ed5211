/** The explicit list of CLI commands. */
import type { CommandModule } from 'yargs';

export { oneShotCommand } from './one-shot.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [];
