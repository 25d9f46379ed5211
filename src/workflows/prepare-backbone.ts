/**
 * `--backbone <zoo id | hf:owner/repo… | path.onnx>` → a cut feature extractor: resolve (download/cache/hash) → read →
 * cut at the feature layer → the preprocessing spec that goes with it. The first step of `embed`, `train` and the
 * one-shot run. Zoo backbones bring their catalog entry; Hub backbones their `config.json` (which feature tensor and
 * pooling, by `model_type`) and `preprocessor_config.json` (the preprocessing). describeBackbone does the same from a
 * record of an earlier cut (cut-info-cache.ts) and cuts only on demand.
 */
import { stat } from 'node:fs/promises';
import { FinetuneError } from '../errors.js';
import { IMAGENET_SPEC, parsePreprocessSpec } from '../image/preprocess-spec.js';
import type { PreprocessFlags } from '../image/preprocess-spec.js';
import type { CutBackbone } from '../onnx/cut-backbone.js';
import type { ModelProto } from '../onnx/proto.js';
import type { ModelLimits } from '../onnx/read-model.js';
import { resolveBackbone } from '../registry/resolve-backbone.js';
import type { ResolveBackboneOptions, ResolvedBackbone } from '../registry/resolve-backbone.js';
import { hubFeatureChoice } from '../registry/hub-feature.js';
import type { ModelOutput } from '../registry/hub-feature.js';
import { preprocessSpecFromHub } from '../registry/hub-preprocessor.js';
import type { HubModel } from '../registry/hub.js';
import { formatHubReference } from '../registry/hub-reference.js';
import type { FeatureExtractor, LazyFeatureExtractor } from '../embed/extract-embeddings.js';
import type { Pooling, PreprocessSpec } from '../types.js';
import { cutInfoPath, readCutInfo, recordedCutModel, writeCutInfo, type CutInfo } from './cut-info-cache.js';

export interface PrepareBackboneOptions extends ResolveBackboneOptions {
  /** Tensor to cut at. @defaultValue the tensor that feeds the classifier (auto-detected) */
  layer?: string;
  /**
   * How the feature tensor becomes a vector. @defaultValue `avg` for maps, `cls` for token sequences (see
   * cutBackbone); for Hub models, what their `model_type` calls for
   */
  pooling?: Pooling;
  /**
   * Preprocessing overrides (CLI flags or a JSON file). Zoo backbones start from their catalog spec, Hub backbones
   * from their `preprocessor_config.json`; other models from the ImageNet recipe at the model's input size.
   * @defaultValue none
   */
  preprocess?: PreprocessFlags;
  /** Limits on the backbone file (size with external data, node count). @defaultValue `DEFAULT_MODEL_LIMITS` */
  modelLimits?: ModelLimits;
}

export interface PreparedBackbone {
  readonly resolved: ResolvedBackbone;
  readonly cut: CutBackbone;
  readonly preprocess: PreprocessSpec;
  /** What extraction needs: the cut model's bytes, its input, the cache-key spec and the feature width. */
  readonly extractor: FeatureExtractor;
}

/** A backbone known from a record of its cut: nothing is read or cut until `extractor.loadModel()` runs. */
export interface DescribedBackbone {
  readonly resolved: ResolvedBackbone;
  readonly cut: CutInfo;
  readonly preprocess: PreprocessSpec;
  /** The cache-key spec and feature width now; the cut model's bytes only when something needs computing. */
  readonly extractor: FeatureExtractor | LazyFeatureExtractor;
}

/** The layer and pooling asked for (the cut record's key), not what the Hub config or auto-detection chose. */
const cutOptionsOf = (options: PrepareBackboneOptions): { layer?: string; pooling?: Pooling } => ({
  ...(options.layer !== undefined ? { layer: options.layer } : {}),
  ...(options.pooling !== undefined ? { pooling: options.pooling } : {}),
});

/** The preprocessing for a cut backbone (catalog, Hub or input-size spec, then the overrides), checked against its input. */
function preprocessFor(resolved: ResolvedBackbone, base: PreprocessSpec | null, inputShape: ReadonlyArray<number | string>,
  options: PrepareBackboneOptions): PreprocessSpec {
  const start = resolved.entry?.preprocess ?? base ?? specForInputShape(inputShape, resolved.id);
  const preprocess = options.preprocess ? parsePreprocessSpec(options.preprocess, start) : start;
  checkSpecFitsInput(preprocess, inputShape, resolved.id);
  return preprocess;
}

async function cutResolved(resolved: ResolvedBackbone, options: PrepareBackboneOptions): Promise<PreparedBackbone> {
  // The ONNX tooling (protobufjs, shape inference) loads only when a model is cut: not on a rerun from the cache.
  const [{ cutBackbone }, { readModel }, { encodeModelReadingWeights }, { valueInfoDims }] = await Promise.all([
    import('../onnx/cut-backbone.js'), import('../onnx/read-model.js'), import('../onnx/stream-model.js'),
    import('../onnx/graph-builder.js')]);
  // The weights stay in the file: the export streams them from there; only the extractor's bytes hold them.
  const model = await readModel(resolved.path, { limits: options.modelLimits ?? {}, weights: 'disk' });
  const say = (message: string): void => options.onProgress?.({ stage: 'info', status: 'message', message });
  const choice = resolved.hub && options.layer === undefined
    ? hubFeatureChoice(resolved.hub.config, graphOutputs(model, valueInfoDims)) : null;
  const layer = options.layer ?? choice?.layer;
  const pooling = options.pooling ?? choice?.pooling;
  const cut = cutBackbone(model, {
    ...(layer !== undefined ? { layer } : {}),
    ...(pooling !== undefined ? { pooling } : {}),
  });
  if (choice) say(`Feature: ${choice.reason}.`);
  else if (resolved.hub && options.layer === undefined && options.pooling === undefined && cut.pooling === 'cls') {
    say(`Feature: the CLS token of "${cut.featureTensor}" (--pooling mean-tokens for the mean of the patch tokens).`);
  }
  const hubBase = resolved.entry === null && resolved.hub ? await hubSpec(resolved.hub, cut, say) : null;
  const preprocess = preprocessFor(resolved, hubBase, cut.inputShape, options);
  const extractor: FeatureExtractor = {
    modelBytes: encodeModelReadingWeights(cut.model),
    name: resolved.id,
    inputName: cut.inputName,
    embeddingDim: cut.embeddingDim,
    spec: { backboneSha256: resolved.sha256, layer: cut.featureTensor, pooling: cut.pooling, preprocess },
  };
  return { resolved, cut, preprocess, extractor };
}

export async function prepareBackbone(idOrPath: string, options: PrepareBackboneOptions = {}): Promise<PreparedBackbone> {
  const resolved = await resolveBackbone(idOrPath, options);
  const prepared = await cutResolved(resolved, options);
  if (resolved.hub === null) {
    await writeCutInfo(cutInfoPath(resolved.sha256, cutOptionsOf(options), options.home), prepared.cut, prepared.extractor.modelBytes);
  }
  return prepared;
}

/**
 * Like prepareBackbone, but from the record of an earlier cut of the same file with the same layer and pooling
 * when there is one: then the model is needed only if `extractor.loadModel()` is called, i.e. only when an image
 * misses the embedding cache, and that gives the path of the recorded cut model when its file checks out (else it
 * reads and cuts the backbone, and records the cut model for next time). Without a record it cuts now (and
 * records it). Hub backbones are always cut
 * now: their feature and preprocessing come from their config files and the graph, and their messages are wanted.
 */
export async function describeBackbone(idOrPath: string, options: PrepareBackboneOptions = {}): Promise<DescribedBackbone> {
  const resolved = await resolveBackbone(idOrPath, options);
  if (resolved.hub !== null) return cutResolved(resolved, options);
  const recordPath = cutInfoPath(resolved.sha256, cutOptionsOf(options), options.home);
  const recorded = await readCutInfo(recordPath);
  if (recorded === null) {
    const prepared = await cutResolved(resolved, options);
    await writeCutInfo(recordPath, prepared.cut, prepared.extractor.modelBytes);
    return prepared;
  }
  const { cut } = recorded;
  const preprocess = preprocessFor(resolved, null, cut.inputShape, options);
  const extractor: LazyFeatureExtractor = {
    modelSizeBytes: (await stat(resolved.path)).size,
    loadModel: async () => {
      const recordedModel = await recordedCutModel(recordPath, recorded, options.home);
      if (recordedModel !== null) return recordedModel;
      const prepared = await cutResolved(resolved, options);
      if (prepared.cut.featureTensor !== cut.featureTensor || prepared.cut.embeddingDim !== cut.embeddingDim
        || prepared.cut.pooling !== cut.pooling || prepared.cut.inputName !== cut.inputName) {
        throw new FinetuneError('CACHE_MISMATCH',
          `Cutting "${resolved.id}" gave "${prepared.cut.featureTensor}" (${prepared.cut.embeddingDim}-d, ${prepared.cut.pooling}), ` +
          `but the record "${recordPath}" says "${cut.featureTensor}" (${cut.embeddingDim}-d, ${cut.pooling}).`,
          `Delete "${recordPath}" and rerun; the next run records the cut again.`);
      }
      await writeCutInfo(recordPath, prepared.cut, prepared.extractor.modelBytes);
      return prepared.extractor.modelBytes;
    },
    name: resolved.id,
    inputName: cut.inputName,
    embeddingDim: cut.embeddingDim,
    spec: { backboneSha256: resolved.sha256, layer: cut.featureTensor, pooling: cut.pooling, preprocess },
  };
  return { resolved, cut, preprocess, extractor };
}

/** The model's outputs with their declared ranks. */
function graphOutputs(model: ModelProto, valueInfoDims: typeof import('../onnx/graph-builder.js').valueInfoDims): ModelOutput[] {
  return (model.graph?.output ?? []).map((output) => ({ name: output.name ?? '', rank: valueInfoDims(output)?.length ?? null }));
}

/** A Hub model's preprocessing from its `preprocessor_config.json`; null (with a warning) when it has none. */
async function hubSpec(hub: HubModel, cut: CutBackbone, say: (message: string) => void): Promise<PreprocessSpec | null> {
  const { HUB_CONFIG_FILES } = await import('../registry/hub.js');
  const name = formatHubReference(hub.repoId, hub.commit ?? hub.revision, HUB_CONFIG_FILES.preprocessor);
  if (!hub.preprocessorConfig) {
    say(`${hub.repoId} has no ${HUB_CONFIG_FILES.preprocessor}: using the ImageNet recipe at the model's input size (pass --preprocess to set it).`);
    return null;
  }
  const layout = cut.inputShape[3] === 3 && cut.inputShape[1] !== 3 ? 'NHWC' : 'NCHW';
  const mapped = preprocessSpecFromHub(hub.preprocessorConfig, name, { layout });
  say(`Preprocessing from ${HUB_CONFIG_FILES.preprocessor}: ${mapped.description}.`);
  return mapped.spec;
}

/** ImageNet normalisation at the model's own input size, for models the zoo catalog does not know. */
function specForInputShape(inputShape: ReadonlyArray<number | string>, modelName: string): PreprocessSpec {
  const [, second, third, fourth] = inputShape;
  if (second === 3 && typeof third === 'number' && third === fourth) {
    return { ...IMAGENET_SPEC, cropSize: third, resizeSize: Math.round((third * 256) / 224), layout: 'NCHW' };
  }
  if (fourth === 3 && typeof second === 'number' && second === third) {
    return { ...IMAGENET_SPEC, cropSize: second, resizeSize: Math.round((second * 256) / 224), layout: 'NHWC' };
  }
  if (inputShape.length === 4) return IMAGENET_SPEC; // symbolic H/W: the ImageNet 224 recipe, overridable by flags
  throw new FinetuneError('MODEL_INVALID',
    `Backbone "${modelName}" has input shape [${inputShape.join(', ')}], not an image batch [N, 3, H, W] or [N, H, W, 3].`,
    'Pass an image classifier, or check the model with `finetune inspect <model.onnx>`.');
}

function checkSpecFitsInput(spec: PreprocessSpec, inputShape: ReadonlyArray<number | string>, modelName: string): void {
  const [height, width] = spec.layout === 'NCHW' ? [inputShape[2], inputShape[3]] : [inputShape[1], inputShape[2]];
  const channels = spec.layout === 'NCHW' ? inputShape[1] : inputShape[3];
  const mismatch = (typeof height === 'number' && height !== spec.cropSize) || (typeof width === 'number' && width !== spec.cropSize)
    || (typeof channels === 'number' && channels !== 3);
  if (mismatch) {
    throw new FinetuneError('INVALID_OPTION',
      `Preprocessing gives ${spec.layout} images of ${spec.cropSize}×${spec.cropSize}, but backbone "${modelName}" expects input [${inputShape.join(', ')}].`,
      `Pass --input-size ${typeof height === 'number' ? height : '<size>'} and the right --layout (NCHW or NHWC).`);
  }
}
