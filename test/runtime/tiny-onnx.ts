/**
 * A minimal ONNX protobuf writer for runtime and embedding tests: enough of ModelProto to build tiny graphs
 * (float/uint8/string inputs, initializers, int/float/ints attributes), written here so these tests depend on
 * nothing but onnxruntime. Field numbers follow onnx.proto.
 */

class ProtoWriter {
  private readonly parts: number[] = [];

  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.parts.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.parts.push(Number(v));
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint((field << 3) | wireType);
  }

  int(field: number, value: number): this {
    return this.tag(field, 0).varint(value);
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    for (let i = 0; i < data.length; i++) this.parts.push(data[i]!);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  float(field: number, value: number): this {
    const buffer = new Uint8Array(4);
    new DataView(buffer.buffer).setFloat32(0, value, true);
    this.tag(field, 5);
    for (const byte of buffer) this.parts.push(byte);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT64: 7, STRING: 8 } as const;

export interface ValueInfo {
  readonly name: string;
  readonly elemType: number;
  /** number = fixed dim, string = symbolic dim. */
  readonly dims: ReadonlyArray<number | string>;
}

export type Attribute =
  | { readonly name: string; readonly int: number }
  | { readonly name: string; readonly float: number }
  | { readonly name: string; readonly ints: readonly number[] };

export interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: readonly Attribute[];
}

export type Initializer =
  | { readonly name: string; readonly dims: readonly number[]; readonly floats: Float32Array }
  | { readonly name: string; readonly dims: readonly number[]; readonly int64s: readonly number[] }
  | { readonly name: string; readonly dims: readonly number[]; readonly strings: readonly string[] };

export interface GraphSpec {
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly nodes: readonly NodeSpec[];
  readonly initializers?: readonly Initializer[];
  /** @defaultValue `13` */
  readonly opset?: number;
}

function writeValueInfo(w: ProtoWriter, info: ValueInfo): void {
  w.string(1, info.name).message(2, (type) =>
    type.message(1, (tensor) =>
      tensor.int(1, info.elemType).message(2, (shape) => {
        for (const dim of info.dims) {
          shape.message(1, (d) => (typeof dim === 'number' ? d.int(1, dim) : d.string(2, dim)));
        }
      })));
}

function writeInitializer(w: ProtoWriter, init: Initializer): void {
  for (const dim of init.dims) w.int(1, dim);
  if ('floats' in init) {
    w.int(2, DataType.FLOAT).string(8, init.name);
    w.bytes(9, new Uint8Array(init.floats.buffer, init.floats.byteOffset, init.floats.byteLength));
  } else if ('int64s' in init) {
    w.int(2, DataType.INT64).string(8, init.name);
    for (const value of init.int64s) w.int(7, value);
  } else {
    w.int(2, DataType.STRING).string(8, init.name);
    for (const value of init.strings) w.string(6, value);
  }
}

function writeAttribute(w: ProtoWriter, attribute: Attribute): void {
  w.string(1, attribute.name);
  if ('int' in attribute) w.int(3, attribute.int).int(20, 2);
  else if ('float' in attribute) w.float(2, attribute.float).int(20, 1);
  else {
    for (const value of attribute.ints) w.int(8, value);
    w.int(20, 7);
  }
}

/** Serialises a one-graph ONNX model (IR 8, default domain opset `opset`). */
export function buildModel(spec: GraphSpec): Uint8Array {
  const model = new ProtoWriter();
  model.int(1, 8).string(2, 'finetune-tests');
  model.message(7, (graph) => {
    spec.nodes.forEach((node, index) => {
      graph.message(1, (n) => {
        for (const input of node.inputs) n.string(1, input);
        for (const output of node.outputs) n.string(2, output);
        n.string(3, `node${index}_${node.op}`).string(4, node.op);
        for (const attribute of node.attributes ?? []) n.message(5, (a) => writeAttribute(a, attribute));
      });
    });
    graph.string(2, 'tiny');
    for (const init of spec.initializers ?? []) graph.message(5, (t) => writeInitializer(t, init));
    for (const input of spec.inputs) graph.message(11, (v) => writeValueInfo(v, input));
    for (const output of spec.outputs) graph.message(12, (v) => writeValueInfo(v, output));
  });
  model.message(8, (opset) => opset.string(1, '').int(2, spec.opset ?? 13));
  return model.finish();
}

/** Deterministic pseudo-random floats in [-1, 1) (mulberry32). */
export function seededFloats(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * A tiny "backbone": image [N, 3, size, size] float → Flatten → MatMul(W [3·size², embeddingDim]) → Relu →
 * `features` [N, embeddingDim]. Distinct images give distinct features.
 */
export function tinyBackbone(options: { size?: number; embeddingDim?: number; inputName?: string; seed?: number; batch?: number | string } = {}):
  { bytes: Uint8Array; inputName: string; outputName: string; embeddingDim: number; size: number } {
  const size = options.size ?? 8;
  const embeddingDim = options.embeddingDim ?? 16;
  const inputName = options.inputName ?? 'input';
  const flat = 3 * size * size;
  const bytes = buildModel({
    inputs: [{ name: inputName, elemType: DataType.FLOAT, dims: [options.batch ?? 'batch', 3, size, size] }],
    outputs: [{ name: 'features', elemType: DataType.FLOAT, dims: [options.batch ?? 'batch', embeddingDim] }],
    initializers: [{ name: 'W', dims: [flat, embeddingDim], floats: seededFloats(flat * embeddingDim, options.seed ?? 7) }],
    nodes: [
      { op: 'Flatten', inputs: [inputName], outputs: ['flat'], attributes: [{ name: 'axis', int: 1 }] },
      { op: 'MatMul', inputs: ['flat', 'W'], outputs: ['projected'] },
      { op: 'Add', inputs: ['projected', 'projected'], outputs: ['features'] },
    ],
  });
  return { bytes, inputName, outputName: 'features', embeddingDim, size };
}

/**
 * Mirrors an exported classifier's interface: `image` uint8 [N, 3] → Cast → `probabilities` float [N, 3], and
 * ArgMax → Gather over a string table → `label` string [N].
 */
export function tinyLabeller(labels: readonly string[] = ['cat', 'dog', 'fox']): Uint8Array {
  return buildModel({
    inputs: [{ name: 'image', elemType: DataType.UINT8, dims: ['N', labels.length] }],
    outputs: [
      { name: 'probabilities', elemType: DataType.FLOAT, dims: ['N', labels.length] },
      { name: 'label', elemType: DataType.STRING, dims: ['N'] },
    ],
    initializers: [{ name: 'labels', dims: [labels.length], strings: labels }],
    nodes: [
      { op: 'Cast', inputs: ['image'], outputs: ['probabilities'], attributes: [{ name: 'to', int: DataType.FLOAT }] },
      { op: 'ArgMax', inputs: ['probabilities'], outputs: ['index'],
        attributes: [{ name: 'axis', int: 1 }, { name: 'keepdims', int: 0 }] },
      { op: 'Gather', inputs: ['labels', 'index'], outputs: ['label'], attributes: [{ name: 'axis', int: 0 }] },
    ],
  });
}
