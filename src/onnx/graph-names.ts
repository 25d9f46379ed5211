/**
 * Tensor-name bookkeeping for graph edits: the set of names a graph uses, unique new names, and renaming a
 * tensor everywhere it appears. Renames never mutate the caller's graph: {@link cloneGraphShallow} first.
 */
import type { GraphProto, NodeProto } from './proto.js';

/** Every tensor name a graph defines or reads (nodes, initializers, inputs, outputs, value_info), subgraphs included. */
export function graphTensorNames(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  const visit = (g: GraphProto): void => {
    for (const node of g.node) {
      for (const name of node.input) if (name) names.add(name);
      for (const name of node.output) if (name) names.add(name);
      for (const attr of node.attribute) {
        if (attr.g) visit(attr.g);
        for (const sub of attr.graphs) visit(sub);
      }
    }
    for (const tensor of g.initializer) if (tensor.name) names.add(tensor.name);
    for (const info of [...g.input, ...g.output, ...g.value_info]) if (info.name) names.add(info.name);
  };
  visit(graph);
  return names;
}

/** Hands out names not yet in `used`: `base`, else `base_1`, `base_2`, … Each name handed out becomes used. */
export class NameScope {
  readonly #used: Set<string>;

  constructor(used: Iterable<string>) {
    this.#used = new Set(used);
  }

  has(name: string): boolean {
    return this.#used.has(name);
  }

  unique(base: string): string {
    let name = base;
    for (let suffix = 1; this.#used.has(name); suffix++) name = `${base}_${suffix}`;
    this.#used.add(name);
    return name;
  }

  /** Marks a name as taken (e.g. a reserved graph input/output name). */
  reserve(name: string): void {
    this.#used.add(name);
  }
}

/**
 * A copy of the graph whose arrays and nodes can be edited without touching the original. Tensors
 * (and their raw_data) and subgraphs are shared, not copied: a VGG's 500 MB of weights stay in place.
 */
export function cloneGraphShallow(graph: GraphProto): GraphProto {
  return {
    ...graph,
    node: graph.node.map((node) => ({ ...node, input: [...node.input], output: [...node.output] })),
    initializer: [...graph.initializer],
    sparse_initializer: [...graph.sparse_initializer],
    input: [...graph.input],
    output: [...graph.output],
    value_info: [...graph.value_info],
    quantization_annotation: [...graph.quantization_annotation],
    metadata_props: [...graph.metadata_props],
  };
}

/**
 * Renames tensor `from` to `to` in a graph made by {@link cloneGraphShallow}: node inputs and outputs,
 * initializers, graph inputs/outputs, value_info and quantization annotations. Subgraphs that read `from`
 * from the outer scope are copied before being edited.
 */
export function renameTensor(graph: GraphProto, from: string, to: string): void {
  for (const node of graph.node) renameInNode(node, from, to);
  graph.initializer = graph.initializer.map((tensor) => (tensor.name === from ? { ...tensor, name: to } : tensor));
  graph.sparse_initializer = graph.sparse_initializer.map((sparse) =>
    sparse.values?.name === from ? { ...sparse, values: { ...sparse.values, name: to } } : sparse);
  const renameInfo = <T extends { name?: string }>(info: T): T => (info.name === from ? { ...info, name: to } : info);
  graph.input = graph.input.map(renameInfo);
  graph.output = graph.output.map(renameInfo);
  graph.value_info = graph.value_info.map(renameInfo);
  graph.quantization_annotation = graph.quantization_annotation.map((annotation) => ({
    ...annotation,
    tensor_name: annotation.tensor_name === from ? to : annotation.tensor_name,
    quant_parameter_tensor_names: annotation.quant_parameter_tensor_names.map((entry) =>
      (entry.value === from ? { ...entry, value: to } : entry)),
  }));
}

function renameInNode(node: NodeProto, from: string, to: string): void {
  for (let index = 0; index < node.input.length; index++) if (node.input[index] === from) node.input[index] = to;
  for (let index = 0; index < node.output.length; index++) if (node.output[index] === from) node.output[index] = to;
  if (!node.attribute.some((attr) => attr.g || attr.graphs.length > 0)) return;
  node.attribute = node.attribute.map((attr) => {
    if (!attr.g && attr.graphs.length === 0) return attr;
    const copy = { ...attr };
    if (attr.g) {
      copy.g = cloneGraphShallow(attr.g);
      renameTensor(copy.g, from, to);
    }
    copy.graphs = attr.graphs.map((sub) => {
      const clone = cloneGraphShallow(sub);
      renameTensor(clone, from, to);
      return clone;
    });
    return copy;
  });
}
