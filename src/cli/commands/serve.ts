import type { CommandModule } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { withCommonOptions } from '../options.js';
import type { CommonOptions } from '../options.js';
import { yellow } from '../style.js';

interface ServeArgs extends CommonOptions { model: string; port: number; host: string; topK: number }

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve <model>',
  describe: 'Serve a browser demo on localhost that runs the exported model with onnxruntime-web (no CDN).',
  builder: (yargs) => withCommonOptions(yargs)
    .positional('model', { type: 'string', demandOption: true, describe: 'A model.onnx exported by finetune.' })
    .option('port', { alias: 'p', type: 'number', default: 8080, describe: 'Port (0 = any free port).' })
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'Interface to listen on.' })
    .option('top-k', { type: 'number', default: 5, describe: 'Classes shown per image.' })
    .example('$0 serve runs/latest/model.onnx', 'Open http://127.0.0.1:8080 and drop an image')
    .example('$0 serve model.onnx --port 0 --json', 'Print the URL as JSON (for scripts)') as never,
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { startServer } = await import('../../serve/index.js');
      if (!['127.0.0.1', 'localhost', '::1'].includes(args.host)) {
        process.stderr.write(`${yellow('warning')}: listening on ${args.host} exposes the model to other machines.\n`);
      }
      const server = await startServer(args.model, { port: args.port, host: args.host, topK: args.topK });
      process.stdout.write(args.json ? `${JSON.stringify({ url: server.url })}\n` : `Serving ${args.model} at ${server.url} (Ctrl-C to stop)\n`);
      await new Promise<void>((resolveStop) => {
        const stop = () => resolveStop();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
    });
  },
};
