/** `finetune cache export`: one extractor's vectors (and the dataset's labels) as NumPy files. */
import { exportEmbeddings } from '../../../../workflows/export-embeddings.js';
import { dim, green, yellow } from '../../../style.js';
import { cachePathOf, printJson, shortKey } from '../shared.js';
import type { CacheExportArgs } from './options.js';

export async function cacheExport(args: CacheExportArgs): Promise<void> {
  const result = await exportEmbeddings(args.out, { cachePath: cachePathOf(args), extractor: args.extractor, data: args.data });
  if (args.json) { printJson(result); return; }
  const out = process.stdout;
  out.write(`${green('Exported', out)} ${result.count} × ${result.embeddingDim}-d vectors of extractor ${shortKey(result.extractor)}\n` +
    `  ${result.featuresPath}\n  ${result.labelsPath}\n  ${result.filesPath}\n${result.classesPath ? `  ${result.classesPath}\n` : ''}`);
  if (result.missing.length > 0) {
    out.write(yellow(`${result.missing.length} image(s) of the dataset are not in the cache and were left out` +
      ` (run \`finetune embed\` first): ${result.missing.slice(0, 5).join(', ')}${result.missing.length > 5 ? ', …' : ''}\n`, out));
  }
  out.write(dim(`Python: import numpy as np; X = np.load("${result.featuresPath}"); y = np.load("${result.labelsPath}")\n`, out));
}
