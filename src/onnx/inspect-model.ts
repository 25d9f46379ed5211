import { opsetVersion, valueInfoDims, valueInfoElemType } from './graph-builder.js';
import { featureCandidates, findFeatureTensor, indexGraph, isQuantizedType, poolingsFor } from './find-feature-tensor.js';
import { inferShapes } from './infer-shapes.js';
import { dataTypeName } from './proto.js';
import type { ModelProto } from './proto.js';
import type { Pooling } from '../types.js';
import { tensorElementCount } from './tensor-data.js';

/** One graph input or output. Dims are numbers, symbolic names (`'N'`) or null when unknown. */
export interface TensorSummary {
  name: string;
  /** `float32`, `uint8`, … */
  type: string;
  dims: Array<number | string | null> | null;
}

export interface FeatureTensorSummary extends TensorSummary {
  /** Operator producing it (`GlobalAveragePool`, `Flatten`, …). */
  producer: string;
  /** True for the tensor an automatic cut would pick. */
  auto: boolean;
  /** How `--pooling` can turn it into [N, D], the default first (`cls`, `mean-tokens`, … for token sequences). */
  poolings: Pooling[];
}

/** What `finetune inspect` shows. Plain JSON data. */
export interface ModelInspection {
  irVersion: number | null;
  producer: string;
  /** `{ domain: 'ai.onnx' | 'com.microsoft' | …, version }`. */
  opsets: Array<{ domain: string; version: number }>;
  /** Real inputs: graph inputs that are not initializers. */
  inputs: TensorSummary[];
  /** How many initializers old-IR models also list as graph inputs. */
  initializerInputs: number;
  outputs: TensorSummary[];
  nodeCount: number;
  /** Operator histogram, most frequent first. */
  operators: Array<{ opType: string; count: number }>;
  /** Elements in initializers plus ConstantOfShape/Constant-generated weights. */
  parameterCount: number;
  /**
   * The automatic cut: the tensor feeding the classifier (or, in a transformer feature extractor, its token
   * sequence output, with `pooling` the default), or why none was found.
   */
  autoCut: { tensor: string; classifier: string; quantized: boolean; pooling?: Pooling } | { error: string };
  /** Candidate feature tensors, nearest to the output first; the auto-cut tensor is always included. */
  featureCandidates: FeatureTensorSummary[];
}

/** Summarises a model for `finetune inspect`. Never throws on odd graphs; unknown shapes are null. */
export function inspectModel(model: ModelProto): ModelInspection {
  const graph = model.graph;
  const opset = opsetVersion(model) ?? 13;
  const infos = graph ? inferShapes(graph, { opset }) : new Map();
  const index = graph ? indexGraph(graph, infos) : undefined;
  const initializers = index?.initializers ?? new Set<string>();

  const summarize = (name: string, dims: Array<number | string | null> | undefined, elemType: number | undefined): TensorSummary => ({
    name, type: dataTypeName(elemType), dims: dims ?? null,
  });
  const inputs = (graph?.input ?? []).filter((input) => !initializers.has(input.name ?? ''))
    .map((input) => summarize(input.name ?? '', valueInfoDims(input), valueInfoElemType(input)));
  const outputs = (graph?.output ?? []).map((output) => {
    const info = infos.get(output.name ?? '');
    return summarize(output.name ?? '', valueInfoDims(output) ?? info?.dims, valueInfoElemType(output) ?? info?.elemType);
  });

  const histogram = new Map<string, number>();
  let parameterCount = 0;
  for (const tensor of graph?.initializer ?? []) parameterCount += tensorElementCount(tensor);
  for (const node of graph?.node ?? []) {
    const key = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.op_type}` : node.op_type ?? '';
    histogram.set(key, (histogram.get(key) ?? 0) + 1);
    if (node.op_type === 'ConstantOfShape' || node.op_type === 'Constant') {
      const dims = infos.get(node.output[0] ?? '')?.dims;
      if (node.op_type === 'ConstantOfShape' && dims?.every((dim: unknown) => typeof dim === 'number')) {
        parameterCount += (dims as number[]).reduce((a, b) => a * b, 1);
      } else if (node.op_type === 'Constant') {
        const t = node.attribute[0]?.t;
        if (t) parameterCount += tensorElementCount(t);
      }
    }
  }

  let autoCut: ModelInspection['autoCut'] = { error: 'the model has no graph' };
  const candidates: FeatureTensorSummary[] = [];
  if (index) {
    const found = findFeatureTensor(index);
    const list = featureCandidates(index);
    if ('tensor' in found) {
      const info = infos.get(found.tensor);
      autoCut = { tensor: found.tensor, classifier: found.classifier, quantized: isQuantizedType(info?.elemType),
        ...(found.tokenSequence ? { pooling: poolingsFor(info?.dims)[0] ?? 'cls' } : {}) };
      if (!list.some((candidate) => candidate.name === found.tensor)) {
        list.unshift({ name: found.tensor, dims: info?.dims ?? null, elemType: info?.elemType ?? null,
          producer: index.producer.get(found.tensor)?.op_type ?? 'input', poolings: poolingsFor(info?.dims) });
      }
    } else {
      autoCut = { error: found.reason };
    }
    for (const candidate of list) {
      candidates.push({
        name: candidate.name, type: dataTypeName(candidate.elemType ?? undefined), dims: candidate.dims,
        producer: candidate.producer, auto: 'tensor' in autoCut && autoCut.tensor === candidate.name, poolings: candidate.poolings,
      });
    }
  }

  return {
    irVersion: model.ir_version ?? null,
    producer: [model.producer_name, model.producer_version].filter(Boolean).join(' '),
    opsets: model.opset_import.map((entry) => ({ domain: entry.domain || 'ai.onnx', version: entry.version ?? 0 })),
    inputs,
    initializerInputs: (graph?.input.length ?? 0) - inputs.length,
    outputs,
    nodeCount: graph?.node.length ?? 0,
    operators: [...histogram].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([opType, count]) => ({ opType, count })),
    parameterCount,
    autoCut,
    featureCandidates: candidates,
  };
}
