/**
 * Serves a folder laid out like the ONNX Model Zoo on 127.0.0.1, for `--mirror` / FINETUNE_ZOO_MIRROR demos.
 *
 *   tsx scripts/serve-zoo-mirror.ts ../shared/zoo 0      # prints the URL; Ctrl-C stops it
 *   FINETUNE_ZOO_MIRROR=<that URL> finetune models pull mobilenetv2-int8
 */
import { serveMirror } from '../src/registry/serve-mirror.js';

const [root = '../shared/zoo', portArg = '0'] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`usage: tsx scripts/serve-zoo-mirror.ts <folder> [port]  (port must be 0-65535, got "${portArg}")\n`);
  process.exit(2);
}
const server = await serveMirror(root, { port });
process.stdout.write(`${server.url}\n`);
process.stderr.write(`serving ${root} at ${server.url} (Ctrl-C to stop)\n`);
const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
