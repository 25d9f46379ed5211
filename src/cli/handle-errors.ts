import { FinetuneError } from '../errors.js';
import { bold, dim, red } from './style.js';

/** Exit codes: 0 ok, 1 failure, 2 usage (yargs' own validation). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * The one error boundary of the CLI: runs `fn`, prints a failure as one line plus a hint
 * (the stack and cause with --verbose), and returns the exit code. Never calls process.exit.
 */
export async function handleErrors(verbose: boolean | undefined, fn: () => Promise<void>): Promise<number> {
  try {
    await fn();
    return EXIT_OK;
  } catch (error) {
    printError(error, Boolean(verbose));
    return error instanceof FinetuneError && error.code === 'INVALID_OPTION' ? EXIT_USAGE : EXIT_FAILURE;
  }
}

export function printError(error: unknown, verbose: boolean): void {
  const stderr = process.stderr;
  if (error instanceof FinetuneError) {
    stderr.write(`${red(bold('error'))}: ${error.message}\n`);
    if (error.hint) stderr.write(`${bold('hint')}: ${error.hint}\n`);
  } else {
    const message = error instanceof Error ? error.message : String(error);
    stderr.write(`${red(bold('internal error'))}: ${message.split('\n')[0]}\n`);
    if (!verbose) stderr.write(`${bold('hint')}: this is a bug in finetune; rerun with --verbose and report the output.\n`);
  }
  if (verbose) {
    if (error instanceof Error && error.stack) stderr.write(`${dim(error.stack)}\n`);
    let cause = error instanceof Error ? error.cause : undefined;
    while (cause !== undefined) {
      stderr.write(`Caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}\n`);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  } else if (error instanceof FinetuneError) {
    stderr.write(`${dim('(pass --verbose to see the stack trace and cause)')}\n`);
  }
}
