/**
 * The `finetune` command line: yargs wiring and the explicit command list only. `bin.ts` runs it; tests can call
 * {@link main} in-process. Command handlers import their implementation lazily, so `finetune --help` loads no
 * native addon.
 */
import yargs from 'yargs';
import { withCommands } from './commands/index.js';
import { EXIT_USAGE } from './handle-errors.js';
import { toolVersion } from '../util/version.js';
import { bold, red } from './style.js';

/** A command line yargs rejected: exit code 2. */
class UsageError extends Error {}

/**
 * Runs one command line (without the `node` and script arguments) and returns its exit code: 0 ok, 1 failure,
 * 2 usage error. Output goes to process.stdout/stderr; never calls process.exit.
 */
export async function main(argv: readonly string[]): Promise<number> {
  process.exitCode = undefined;
  const configured = withCommands(yargs([...argv])
    .scriptName('finetune')
    .usage('$0 --backbone <zoo id | model.onnx> --classes <N> --data <folder>  (one-shot: embed → train → export)\n$0 <command> [options]'))
    .example('$0 --backbone mobilenetv2 --classes 3 --data ./photos', 'Train a 3-class classifier on ./photos/<class>/*.jpg and export runs/<time>/model.onnx')
    .example('$0 --backbone ./my-model.onnx --classes 2 --data ./photos --input-size 224', 'Use any ONNX classifier as the backbone')
    .example('$0 predict runs/latest/model.onnx cat.jpg --top 3', 'Classify images with an exported model')
    .example('$0 models list', 'Show the zoo backbones and which are cached')
    .epilogue('Docs: README.md. Environment: FINETUNE_HOME (caches), FINETUNE_ZOO_MIRROR (zoo mirror base URL), ' +
      'FINETUNE_MIN_DOWNLOAD_SPEED (bytes/s), HF_ENDPOINT / HF_TOKEN / HF_HOME (Hugging Face Hub mirror, token, cache), ' +
      'HTTPS_PROXY / NO_PROXY, NO_COLOR.')
    .version(toolVersion())
    .alias('h', 'help')
    .strict()
    .wrap(Math.min(120, process.stdout.columns ?? 100))
    .exitProcess(false)   // --help and --version return instead of exiting, so main() can run in-process
    .locale('en')   // our texts are English; yargs' own words followed the OS locale ("[erforderlich]" amid English)
    .fail((message, error) => {
      // yargs passes a string (not an Error) when a .check() fails: that is a usage error too.
      throw error instanceof Error ? error : new UsageError(message ?? String(error));
    });
  try {
    await configured.parseAsync();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${red(bold('usage error'))}: ${error.message}\n`);
    process.stderr.write(`${bold('hint')}: run \`finetune --help\` (or \`finetune <command> --help\`) for the options and examples.\n`);
    process.exitCode = EXIT_USAGE;
  }
  return Number(process.exitCode ?? 0);
}
