/**
 * What cutting a backbone told us, remembered per (backbone sha256, requested layer, requested pooling, finetune
 * version) in `<home>/cuts/<key>.json`, so a later run that finds every image in the embedding cache needs neither
 * to read nor to cut the model (a 550 MB VGG16 takes seconds to decode). Beside it, `<key>.onnx` keeps the cut model
 * itself (its sha256 and size in the record), so a later run with images to compute loads that file instead of
 * reading and cutting the backbone again (protobufjs decode, cut, encode: 0.3–0.7 s for a 3–14 MB backbone on the
 * main thread, which a first run otherwise spends while its first batch decodes); ONNX Runtime reads the file itself.
 * A cut is deterministic for a given file, options and cutBackbone; bump CUT_INFO_VERSION when cutBackbone's choices
 * change (the finetune version in the key covers releases). A damaged record is ignored and rewritten; a cut model
 * file whose size or sha256 does not match its record is not used (the backbone is cut again and the file
 * rewritten). The only reader and writer of these files.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CutBackbone, CutBackboneOptions } from '../onnx/cut-backbone.js';
import { sha256FileCached } from '../util/file-hash-cache.js';
import { writeFileAtomic } from '../util/fs.js';
import { isSha256Hex, sha256, stableStringify } from '../util/hash.js';
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

/** The cut model file recorded beside a cut: its sha256 and size, and the hash of the cut info it was written with. */
interface CutModelRecord {
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly cutSha256: string;
}

/** Ties a model file to the cut info recorded with it: a record edited since is not trusted with the file. */
const cutInfoSha = (info: CutInfo): string => sha256(stableStringify(info));

/** A record read back: the cut, and the cut model file's identity when the record has one. */
export interface RecordedCut {
  readonly cut: CutInfo;
  readonly model: CutModelRecord | null;
}

const cutModelPath = (recordPath: string): string => recordPath.replace(/\.json$/, '.onnx');

/** The recorded cut, or null when there is none (or it is unreadable). */
export async function readCutInfo(path: string): Promise<RecordedCut | null> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as { version?: number; cut?: CutInfo; model?: CutModelRecord };
    const { cut, model } = parsed;
    if (parsed.version !== CUT_INFO_VERSION || cut === undefined || typeof cut.featureTensor !== 'string'
      || typeof cut.inputName !== 'string' || !Number.isInteger(cut.embeddingDim) || cut.embeddingDim < 1
      || !Array.isArray(cut.inputShape)) return null;
    const modelOk = model !== undefined && isSha256Hex(model.sha256)
      && Number.isInteger(model.sizeBytes) && model.sizeBytes > 0 && model.cutSha256 === cutInfoSha(cut);
    return { cut, model: modelOk ? { sha256: model.sha256, sizeBytes: model.sizeBytes, cutSha256: model.cutSha256 } : null };
  } catch {
    return null;
  }
}

/**
 * Records a cut, and the cut model's bytes beside it when given (best effort: a failure to write only costs a cut
 * next time). The model file is written before the record that names it.
 */
export async function writeCutInfo(path: string, cut: CutBackbone, modelBytes?: Uint8Array): Promise<void> {
  const { model: _model, ...info } = cut;
  let model: CutModelRecord | undefined;
  if (modelBytes !== undefined) {
    const written = await writeFileAtomic(cutModelPath(path), modelBytes).then(() => true, () => false);
    if (written) model = { sha256: sha256(modelBytes), sizeBytes: modelBytes.byteLength, cutSha256: cutInfoSha(JSON.parse(JSON.stringify(info)) as CutInfo) };   // as read back
  }
  await writeFileAtomic(path, `${JSON.stringify({ version: CUT_INFO_VERSION, cut: info, ...(model ? { model } : {}) }, null, 2)}\n`)
    .catch(() => undefined);
}

/**
 * The path of the cut model recorded at `path` when its file is there with the recorded size and sha256 (hashed
 * once per version of the file: sha256FileCached), else null.
 */
export async function recordedCutModel(path: string, recorded: RecordedCut, home?: string): Promise<string | null> {
  if (recorded.model === null) return null;
  const file = cutModelPath(path);
  try {
    if ((await stat(file)).size !== recorded.model.sizeBytes) return null;
    return await sha256FileCached(file, home === undefined ? {} : { home }) === recorded.model.sha256 ? file : null;
  } catch {
    return null;
  }
}
