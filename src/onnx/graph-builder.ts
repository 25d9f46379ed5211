/**
 * Small constructors for ONNX messages, so that stages can compose graphs without touching protobufjs:
 * nodes with typed attributes, constant tensors, value infos with symbolic dims, graphs and models,
 * and opset bookkeeping. Everything returned is a plain object shaped like the interfaces in proto.ts.
 */
import { AttributeType, TensorDataType } from './proto.js';
import type {
  AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto,
} from './proto.js';

/** Element types the builders create; the names match onnxruntime's tensor type strings. */
export type TensorElementType = 'float32' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool' | 'string';

const ELEMENT_TYPE_CODES: Readonly<Record<TensorElementType, number>> = {
  float32: TensorDataType.FLOAT, float64: TensorDataType.DOUBLE, int64: TensorDataType.INT64,
  int32: TensorDataType.INT32, int8: TensorDataType.INT8, uint8: TensorDataType.UINT8, bool: TensorDataType.BOOL,
  string: TensorDataType.STRING,
};

/** The TensorProto.DataType code of an element type name. */
export function dataTypeCode(type: TensorElementType): number {
  return ELEMENT_TYPE_CODES[type];
}

// #region attributes

/** An AttributeProto with an explicit kind. Prefer the shorthands on {@link attribute}. */
export function makeAttribute(name: string, kind: 'int', value: number): AttributeProto;
export function makeAttribute(name: string, kind: 'float', value: number): AttributeProto;
export function makeAttribute(name: string, kind: 'string', value: string): AttributeProto;
export function makeAttribute(name: string, kind: 'tensor', value: TensorProto): AttributeProto;
export function makeAttribute(name: string, kind: 'graph', value: GraphProto): AttributeProto;
export function makeAttribute(name: string, kind: 'ints' | 'floats', value: readonly number[]): AttributeProto;
export function makeAttribute(name: string, kind: 'strings', value: readonly string[]): AttributeProto;
export function makeAttribute(
  name: string,
  kind: 'int' | 'float' | 'string' | 'tensor' | 'graph' | 'ints' | 'floats' | 'strings',
  value: number | string | TensorProto | GraphProto | readonly number[] | readonly string[],
): AttributeProto {
  const attr: AttributeProto = {
    name, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [],
  };
  switch (kind) {
    case 'int':
      if (!Number.isInteger(value)) throw new TypeError(`Attribute '${name}': expected an integer, got ${String(value)}.`);
      return { ...attr, type: AttributeType.INT, i: value as number };
    case 'float':
      return { ...attr, type: AttributeType.FLOAT, f: value as number };
    case 'string':
      return { ...attr, type: AttributeType.STRING, s: new TextEncoder().encode(value as string) };
    case 'tensor':
      return { ...attr, type: AttributeType.TENSOR, t: value as TensorProto };
    case 'graph':
      return { ...attr, type: AttributeType.GRAPH, g: value as GraphProto };
    case 'ints':
      return { ...attr, type: AttributeType.INTS, ints: [...(value as readonly number[])] };
    case 'floats':
      return { ...attr, type: AttributeType.FLOATS, floats: [...(value as readonly number[])] };
    case 'strings':
      return { ...attr, type: AttributeType.STRINGS, strings: (value as readonly string[]).map((s) => new TextEncoder().encode(s)) };
    default:
      throw new TypeError(`Unknown attribute kind: ${String(kind)}.`);
  }
}

/** Attribute shorthands: `attribute.int('axis', 1)`, `attribute.ints('perm', [0, 3, 1, 2])`, … */
export const attribute = {
  int: (name: string, value: number): AttributeProto => makeAttribute(name, 'int', value),
  float: (name: string, value: number): AttributeProto => makeAttribute(name, 'float', value),
  string: (name: string, value: string): AttributeProto => makeAttribute(name, 'string', value),
  tensor: (name: string, value: TensorProto): AttributeProto => makeAttribute(name, 'tensor', value),
  graph: (name: string, value: GraphProto): AttributeProto => makeAttribute(name, 'graph', value),
  ints: (name: string, value: readonly number[]): AttributeProto => makeAttribute(name, 'ints', value),
  floats: (name: string, value: readonly number[]): AttributeProto => makeAttribute(name, 'floats', value),
  strings: (name: string, value: readonly string[]): AttributeProto => makeAttribute(name, 'strings', value),
};

/** The attribute called `name`, if the node has it. */
export function getAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((attr) => attr.name === name);
}

/** An INT attribute's value, or `fallback`. */
export function attributeInt(node: NodeProto, name: string, fallback: number): number {
  return getAttribute(node, name)?.i ?? fallback;
}

/** A FLOAT attribute's value, or `fallback`. */
export function attributeFloat(node: NodeProto, name: string, fallback: number): number {
  return getAttribute(node, name)?.f ?? fallback;
}

/** An INTS attribute's values, or `fallback` when absent. */
export function attributeInts(node: NodeProto, name: string, fallback: readonly number[] = []): number[] {
  const attr = getAttribute(node, name);
  return attr ? [...attr.ints] : [...fallback];
}

/** A STRING attribute decoded as UTF-8, or `fallback`. */
export function attributeString(node: NodeProto, name: string, fallback: string): string {
  const value = getAttribute(node, name)?.s;
  return value ? new TextDecoder().decode(value) : fallback;
}

// #endregion

// #region nodes, tensors, value infos

export interface MakeNodeOptions {
  /** Node name. @defaultValue the first output's name */
  name?: string;
  /** Operator domain, e.g. `com.microsoft`. @defaultValue `''` (ai.onnx) */
  domain?: string;
  attributes?: readonly AttributeProto[];
}

/** A NodeProto. Use `''` for an omitted optional input. */
export function makeNode(opType: string, inputs: readonly string[], outputs: readonly string[],
  options: MakeNodeOptions = {}): NodeProto {
  const node: NodeProto = {
    op_type: opType, input: [...inputs], output: [...outputs], name: options.name ?? outputs[0] ?? opType,
    attribute: [...(options.attributes ?? [])], metadata_props: [],
  };
  if (options.domain) node.domain = options.domain;
  return node;
}

/** Values accepted by {@link makeTensor}: numbers for numeric types (bigints too for int64), strings for `string`. */
export type TensorValues = ArrayLike<number> | BigInt64Array | readonly bigint[] | readonly string[];

/**
 * A constant tensor (for initializers or Constant nodes). Numeric data is copied into little-endian
 * `raw_data`; strings go to `string_data` as UTF-8.
 * @throws RangeError when the number of values does not match the dims.
 */
export function makeTensor(name: string, type: TensorElementType, dims: readonly number[], values: TensorValues): TensorProto {
  let count = 1;
  for (const dim of dims) {
    if (!Number.isInteger(dim) || dim < 0) throw new RangeError(`makeTensor('${name}'): bad dim ${dim} in [${dims.join(', ')}].`);
    count *= dim;
  }
  if (values.length !== count) {
    throw new RangeError(`makeTensor('${name}'): dims [${dims.join(', ')}] hold ${count} values, got ${values.length}.`);
  }
  const tensor = emptyTensor(name, ELEMENT_TYPE_CODES[type], dims);
  if (type === 'string') {
    const encoder = new TextEncoder();
    tensor.string_data = Array.from(values as ArrayLike<string>, (value) => encoder.encode(String(value)));
    return tensor;
  }
  let bytes: Uint8Array;
  switch (type) {
    case 'float32': bytes = toBytes(Float32Array.from(values as ArrayLike<number>)); break;
    case 'float64': bytes = toBytes(Float64Array.from(values as ArrayLike<number>)); break;
    case 'int32': bytes = toBytes(Int32Array.from(values as ArrayLike<number>)); break;
    case 'int8': bytes = toBytes(Int8Array.from(values as ArrayLike<number>)); break;
    case 'uint8': bytes = Uint8Array.from(values as ArrayLike<number>); break;
    case 'bool': bytes = Uint8Array.from(values as ArrayLike<number>, (value) => (value ? 1 : 0)); break;
    case 'int64': {
      const data = new BigInt64Array(count);
      for (let i = 0; i < count; i++) {
        const value = (values as ArrayLike<number | bigint>)[i]!;
        data[i] = typeof value === 'bigint' ? value : BigInt(Math.trunc(value));
      }
      bytes = toBytes(data);
      break;
    }
    default:
      throw new TypeError(`makeTensor('${name}'): unsupported type ${String(type)}.`);
  }
  tensor.raw_data = bytes;
  return tensor;
}

/** A TensorProto with no data yet (all repeated fields empty). */
export function emptyTensor(name: string, dataType: number, dims: readonly number[]): TensorProto {
  return {
    name, data_type: dataType, dims: [...dims], float_data: [], int32_data: [], string_data: [], int64_data: [],
    external_data: [], double_data: [], uint64_data: [], metadata_props: [],
  };
}

/** A dimension for {@link makeValueInfo}: a size, a symbolic name such as `'N'`, or null for unknown. */
export type DimSpec = number | string | null;

/** A tensor ValueInfoProto (graph input/output or value_info) with fixed, symbolic or unknown dims. */
export function makeValueInfo(name: string, elemType: TensorElementType | number, dims: readonly DimSpec[] | undefined): ValueInfoProto {
  const tensorType: NonNullable<NonNullable<ValueInfoProto['type']>['tensor_type']> = {
    elem_type: typeof elemType === 'number' ? elemType : ELEMENT_TYPE_CODES[elemType],
  };
  if (dims) {
    tensorType.shape = {
      dim: dims.map((dim) => (typeof dim === 'number' ? { dim_value: dim } : typeof dim === 'string' ? { dim_param: dim } : {})),
    };
  }
  return { name, type: { tensor_type: tensorType }, metadata_props: [] };
}

/** Dims of a tensor ValueInfoProto: numbers, symbolic names, or null for unknown; undefined when it has no shape. */
export function valueInfoDims(info: ValueInfoProto): DimSpec[] | undefined {
  const shape = info.type?.tensor_type?.shape;
  if (!shape) return undefined;
  return shape.dim.map((dim) => dim.dim_value ?? dim.dim_param ?? null);
}

/** The element type code (TensorProto.DataType) of a tensor ValueInfoProto. */
export function valueInfoElemType(info: ValueInfoProto): number | undefined {
  return info.type?.tensor_type?.elem_type;
}

// #endregion

// #region graphs and models

export interface MakeGraphOptions {
  name?: string;
  initializers?: readonly TensorProto[];
  valueInfo?: readonly ValueInfoProto[];
  docString?: string;
}

/** A GraphProto from nodes (in topological order), inputs and outputs. */
export function makeGraph(nodes: readonly NodeProto[], inputs: readonly ValueInfoProto[], outputs: readonly ValueInfoProto[],
  options: MakeGraphOptions = {}): GraphProto {
  const graph: GraphProto = {
    node: [...nodes], name: options.name ?? 'graph', initializer: [...(options.initializers ?? [])], sparse_initializer: [],
    input: [...inputs], output: [...outputs], value_info: [...(options.valueInfo ?? [])], quantization_annotation: [],
    metadata_props: [],
  };
  if (options.docString) graph.doc_string = options.docString;
  return graph;
}

export interface MakeModelOptions {
  /** Version of the default (ai.onnx) opset. @defaultValue `13` */
  opset?: number;
  /** Further opset imports, e.g. `[{ domain: 'com.microsoft', version: 1 }]`. */
  extraOpsets?: readonly OperatorSetIdProto[];
  /** @defaultValue the lowest IR version that supports `opset` ({@link irVersionForOpset}) */
  irVersion?: number;
  /** @defaultValue `'finetune'` */
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  /** Stored in `metadata_props` (onnxruntime exposes them as custom metadata). */
  metadata?: Readonly<Record<string, string>>;
}

/** A ModelProto around a graph. */
export function makeModel(graph: GraphProto, options: MakeModelOptions = {}): ModelProto {
  const opset = options.opset ?? 13;
  const model: ModelProto = {
    ir_version: options.irVersion ?? irVersionForOpset(opset),
    opset_import: [{ domain: '', version: opset }, ...(options.extraOpsets ?? []).map((entry) => ({ ...entry }))],
    producer_name: options.producerName ?? 'finetune',
    graph,
    metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    training_info: [],
    functions: [],
  };
  if (options.producerVersion) model.producer_version = options.producerVersion;
  if (options.docString) model.doc_string = options.docString;
  return model;
}

/** The lowest IR version whose spec includes ai.onnx opset `opset` (opset 7 and 8 → IR 3, …, 21 → IR 10). */
export function irVersionForOpset(opset: number): number {
  if (opset <= 8) return 3;
  if (opset === 9) return 4;
  if (opset === 10) return 5;
  if (opset === 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

/** The version of `domain` the model imports (`''` = ai.onnx; `ai.onnx` is treated the same), or undefined. */
export function opsetVersion(model: ModelProto, domain = ''): number | undefined {
  const wanted = domain === 'ai.onnx' ? '' : domain;
  const entry = model.opset_import.find((item) => ((item.domain ?? '') === 'ai.onnx' ? '' : item.domain ?? '') === wanted);
  return entry?.version;
}

/**
 * Imports `domain` at `version` at least, raising `ir_version` as needed. Returns the version now imported.
 * Careful with ai.onnx: raising it changes the meaning of some existing operators (Softmax on >2-D inputs at
 * 13, Squeeze/Unsqueeze/Reduce axes moving to inputs, Dropout, BatchNormalization), so only raise it on
 * graphs whose operators you know; new nodes should use operators valid at the model's current opset.
 */
export function setOpsetAtLeast(model: ModelProto, version: number, domain = ''): number {
  const wanted = domain === 'ai.onnx' ? '' : domain;
  const entry = model.opset_import.find((item) => ((item.domain ?? '') === 'ai.onnx' ? '' : item.domain ?? '') === wanted);
  if (!entry) model.opset_import.push({ domain: wanted, version });
  else if ((entry.version ?? 0) < version) entry.version = version;
  if (wanted === '') {
    const needed = irVersionForOpset(version);
    if ((model.ir_version ?? 0) < needed) model.ir_version = needed;
  }
  return Math.max(version, entry?.version ?? 0);
}

// #endregion

function toBytes(values: ArrayBufferView): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
