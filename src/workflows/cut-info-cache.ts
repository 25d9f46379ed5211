/**
 * What cutting a backbone told us, remembered per (backbone sha256, requested layer, requested pooling, finetune
 * version) in `<home>/cuts/<key>.json`, so a later run that finds every image in the embedding cache needs neither
 * to read nor to cut the model (a 550 MB VGG16 takes seconds to decode). A cut is deterministic for a given file,
 * options and cutBackbone; bump CUT_INFO_VERSION when cutBackbone's choices change (the finetune version in the key
 * covers releases). A damaged record is ignored and rewritten. The only reader and writer of these files.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CutBackbone, CutBackboneOptions } from '../onnx/cut-backbone.js';
import { writeFileAtomic } from '../util/fs.js';
import { sha256, stableStringify } from '../util/hash.js';
import { finetuneHome } from '../util/paths.js';
import { toolVersion } from '../util/version.js';

/** A cut without the model: the cache key's layer and pooling, the input checks and the messages. */
export type CutInfo = Omit<CutBackbone, 'model'>;

/** Bumped when cutBackbone's choices change, so records of older cuts are not used. */
const CUT_INFO_VERSION = 1;

/** Where the record of cutting `backboneSha256` with `options` lives. */
export function cutInfoPath(backboneSha256: string, options: CutBackboneOptions, home?: string): string {
  const key = sha256(stableStringify({ version: CUT_INFO_VERSION, finetune: toolVersion(), backboneSha256,
    layer: options.layer ?? null, pooling: options.pooling ?? null }));
  return join(finetuneHome(home), 'cuts', `${key}.json`);
}

/** The recorded cut, or null when there is none (or it is unreadable). */
export async function readCutInfo(path: string): Promise<CutInfo | null> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as { version?: number; cut?: CutInfo };
    const cut = parsed.cut;
    if (parsed.version !== CUT_INFO_VERSION || cut === undefined || typeof cut.featureTensor !== 'string'
      || typeof cut.inputName !== 'string' || !Number.isInteger(cut.embeddingDim) || cut.embeddingDim < 1
      || !Array.isArray(cut.inputShape)) return null;
    return cut;
  } catch {
    return null;
  }
}

/** Records a cut (best effort: a failure to write only costs a cut next time). */
export async function writeCutInfo(path: string, cut: CutBackbone): Promise<void> {
  const { model: _model, ...info } = cut;
  await writeFileAtomic(path, `${JSON.stringify({ version: CUT_INFO_VERSION, cut: info }, null, 2)}\n`).catch(() => undefined);
}
