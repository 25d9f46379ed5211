import type { CommandModule, InferredOptionTypes, Options } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { commonOptions, exportedModelPositional } from '../options.js';
import { yellow } from '../style.js';

const serveOptions = {
  ...commonOptions,
  port: { alias: 'p', type: 'number', default: 8080, describe: 'Port (0 = any free port).' },
  host: { type: 'string', default: '127.0.0.1', describe: 'Interface to listen on.' },
  'top-k': { type: 'number', default: 5, describe: 'Classes shown per image.' },
  'allowed-host': { type: 'string', array: true, requiresArg: true, describe:
    'Also answer requests addressed to this host name (repeatable; .example.com allows its subdomains). Others get 403 ' +
    '(DNS-rebinding protection); localhost, this machine\'s IP addresses and --host are always allowed.' },
  'max-upload-mb': { type: 'number', default: 32, describe: 'Largest image the page\'s exact mode may upload (at most 2 decoded at once).' },
} as const satisfies Record<string, Options>;
const servePositionals = {
  model: { ...exportedModelPositional, describe: 'A model.onnx exported by finetune, or the run folder holding it.' },
} as const;

export const serveCommand: CommandModule<object, InferredOptionTypes<typeof serveOptions & typeof servePositionals>> = {
  command: 'serve <model>',
  describe: 'Serve a browser demo on localhost that runs the exported model with onnxruntime-web (no CDN).',
  builder: (yargs) => yargs.options(serveOptions)
    .positional('model', servePositionals.model)
    .example('$0 serve runs/latest', 'Serve the latest run\'s model.onnx; open http://127.0.0.1:8080 and drop an image')
    .example('$0 serve model.onnx --port 0 --json', 'Print the URL as JSON (for scripts)')
    .example('$0 serve runs/latest --host 0.0.0.0 --allowed-host my-box.lan', 'Share it on the LAN as http://my-box.lan:8080'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { startServer } = await import('../../serve/index.js');
      if (!['127.0.0.1', 'localhost', '::1'].includes(args.host)) {
        process.stderr.write(`${yellow('warning')}: listening on ${args.host} exposes the model to other machines.\n`);
      }
      const server = await startServer(args.model, {
        port: args.port, host: args.host, topK: args.topK, allowedHosts: args.allowedHost,
        maxUploadBytes: Math.round(args.maxUploadMb * 1e6),
      });
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
