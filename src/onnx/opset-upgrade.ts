/** Whether a graph written for one ai.onnx opset still means the same once the model imports a newer one. */
import { FinetuneError } from '../errors.js';
import type { GraphProto } from './proto.js';

/**
 * Operators whose inputs or attributes changed at the given ai.onnx version, so a graph written for an older
 * opset is invalid (or means something else) once the model imports the newer one.
 */
const SIGNATURE_CHANGES: ReadonlyArray<readonly [opType: string, version: number]> = [
  ['BatchNormalization', 9], ['Upsample', 10], ['Slice', 10], ['TopK', 10], ['Pad', 11], ['Clip', 11], ['Resize', 11],
  ['Scatter', 11], ['Dropout', 12], ['Softmax', 13], ['LogSoftmax', 13], ['Hardmax', 13], ['Squeeze', 13],
  ['Unsqueeze', 13], ['ReduceSum', 13], ['Split', 13], ['ReduceMean', 18], ['ReduceMax', 18], ['ReduceMin', 18],
  ['ReduceProd', 18], ['ReduceL1', 18], ['ReduceL2', 18], ['ReduceLogSum', 18], ['ReduceLogSumExp', 18],
  ['ReduceSumSquare', 18], ['Split', 18],
];

/**
 * The opset to export at: `requested`, checked against the graph, or the current one when none is requested.
 * @throws FinetuneError INVALID_OPTION when `requested` is older than `current`, or the graph uses an operator whose
 * signature changed in between.
 */
export function resolveTargetOpset(graph: GraphProto, current: number, requested: number | undefined): number {
  if (requested === undefined) return current;
  if (!Number.isInteger(requested) || requested < current) {
    throw new FinetuneError('INVALID_OPTION',
      `Opset ${requested} is older than the backbone's opset ${current}; export cannot lower it.`,
      `Omit --opset to keep opset ${current}, or pass a newer one.`);
  }
  if (requested === current) return requested;
  const opTypes = new Set(graph.node.filter((node) => !node.domain || node.domain === 'ai.onnx').map((node) => node.op_type ?? ''));
  const blocking = new Set<string>();
  for (const [opType, version] of SIGNATURE_CHANGES) {
    if (opTypes.has(opType) && version > current && version <= requested) blocking.add(`${opType} (changed in opset ${version})`);
  }
  if (blocking.size > 0) {
    throw new FinetuneError('INVALID_OPTION',
      `Cannot raise the backbone from opset ${current} to ${requested}: it uses ${[...blocking].join(', ')}.`,
      `Omit --opset to keep opset ${current} (every node finetune adds works there), or convert the backbone first.`);
  }
  return requested;
}
