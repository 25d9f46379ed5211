/**
 * A shard worker with a slow decoder, for the kill -9 test: `shard-worker.ts <data> <backbone.onnx> <cacheDir>
 * <K/N> <slowMs>` embeds shard K/N like `finetune embed --shard K/N --batch-size 2`, but waits `slowMs` before
 * each image's preprocessing so the parent can kill it mid-shard. Prints one JSON line per progress event.
 */
import { preprocessImage } from '../../src/image/preprocess-image.js';
import { embedDataset } from '../../src/workflows/embed-dataset.js';
import { parseShard } from '../../src/workflows/shard.js';

const [data, backbone, cacheDir, shardText, slowText] = process.argv.slice(2);
const slowMs = Number(slowText ?? 0);
const result = await embedDataset(data!, {
  backbone: backbone!, cacheDir: cacheDir!, shard: parseShard(shardText!), device: 'cpu', batchSize: 2, intraOpNumThreads: 1,
  preprocessFn: async (input, spec, options) => {
    await new Promise((resolve) => setTimeout(resolve, slowMs));
    return preprocessImage(input, spec, options);
  },
  onProgress: (event) => {
    if (event.stage === 'embed') process.stdout.write(`${JSON.stringify({ computed: event.computed })}\n`);
  },
});
process.stdout.write(`${JSON.stringify({ result: { computed: result.computed, cacheHits: result.cacheHits } })}\n`);
