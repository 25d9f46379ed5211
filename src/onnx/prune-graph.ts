import type { GraphProto, NodeProto } from './proto.js';

export interface PruneGraphOptions {
  /** Also remove real graph inputs (not initializers) that no kept node reads. @defaultValue `false` */
  removeUnusedInputs?: boolean;
}

export interface PruneGraphResult {
  removedNodes: number;
  removedInitializers: number;
  removedInputs: number;
}

/**
 * Removes, in place, every node that does not contribute to `graph.output`, then the initializers,
 * initializer-inputs (old IR lists initializers as inputs), value_info and quantization annotations that
 * nothing uses any more. Nodes must be in topological order, as ONNX requires. Tensors read from inside
 * subgraphs (If/Loop/Scan bodies) count as used.
 */
export function pruneGraph(graph: GraphProto, options: PruneGraphOptions = {}): PruneGraphResult {
  const needed = new Set<string>(graph.output.map((output) => output.name ?? ''));
  const kept: NodeProto[] = [];
  for (let index = graph.node.length - 1; index >= 0; index--) {
    const node = graph.node[index]!;
    if (!node.output.some((name) => needed.has(name))) continue;
    kept.push(node);
    for (const name of node.input) if (name) needed.add(name);
    for (const name of subgraphInputs(node)) needed.add(name);
  }
  kept.reverse();
  const removedNodes = graph.node.length - kept.length;
  graph.node = kept;

  const initializerCount = graph.initializer.length;
  const originalInitializers = new Set(graph.initializer.map((tensor) => tensor.name ?? ''));
  graph.initializer = graph.initializer.filter((tensor) => needed.has(tensor.name ?? ''));
  graph.sparse_initializer = graph.sparse_initializer.filter((sparse) => needed.has(sparse.values?.name ?? ''));
  const inputCount = graph.input.length;
  graph.input = graph.input.filter((input) => {
    const name = input.name ?? '';
    if (needed.has(name)) return true;
    // An input that names a removed initializer is a removed initializer; keep real inputs unless asked.
    return !options.removeUnusedInputs && !originalInitializers.has(name);
  });

  const present = new Set<string>(needed);
  graph.value_info = graph.value_info.filter((info) => present.has(info.name ?? ''));
  graph.quantization_annotation = graph.quantization_annotation.filter((entry) => present.has(entry.tensor_name ?? ''));
  return {
    removedNodes,
    removedInitializers: initializerCount - graph.initializer.length,
    removedInputs: inputCount - graph.input.length,
  };
}

/** Every tensor name read by nodes nested in a node's graph attributes (an over-approximation of outer-scope reads). */
function subgraphInputs(node: NodeProto): string[] {
  const names: string[] = [];
  const visit = (graph: GraphProto): void => {
    for (const inner of graph.node) {
      for (const name of inner.input) if (name) names.push(name);
      for (const attr of inner.attribute) {
        if (attr.g) visit(attr.g);
        for (const g of attr.graphs) visit(g);
      }
    }
  };
  for (const attr of node.attribute) {
    if (attr.g) visit(attr.g);
    for (const g of attr.graphs) visit(g);
  }
  return names;
}
