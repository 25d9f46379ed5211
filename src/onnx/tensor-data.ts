/**
 * Reading the values of a TensorProto, whichever of `raw_data` or the typed fields holds them.
 * ONNX stores raw_data little-endian, which is the byte order of every platform Node runs on here.
 */
import { TensorDataType } from './proto.js';
import type { TensorProto } from './proto.js';

/** Number of elements a tensor holds according to its dims (1 for a scalar). */
export function tensorElementCount(tensor: Pick<TensorProto, 'dims'>): number {
  let count = 1;
  for (const dim of tensor.dims) count *= dim;
  return count;
}

/**
 * A float32 tensor's values. Returns a view of `raw_data` when it is 4-byte aligned, else a copy.
 * @throws TypeError when the tensor is not float32.
 */
export function tensorFloat32(tensor: TensorProto): Float32Array {
  if ((tensor.data_type ?? 0) !== TensorDataType.FLOAT) {
    throw new TypeError(`Tensor "${tensor.name ?? ''}" has data type ${tensor.data_type}, not FLOAT.`);
  }
  const raw = tensor.raw_data;
  if (raw && raw.byteLength > 0) {
    if (raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    // Copy to an aligned buffer (new Uint8Array(view) copies; Buffer#slice would not).
    return new Float32Array(new Uint8Array(raw).buffer);
  }
  return Float32Array.from(tensor.float_data);
}

/**
 * A numeric tensor's values as plain numbers (int64 beyond ±2^53 loses precision). Meant for small
 * tensors: shapes, axes, scales, zero points.
 * @throws TypeError for string, complex and sub-byte types.
 */
export function tensorNumbers(tensor: TensorProto): number[] {
  const type = tensor.data_type ?? 0;
  const raw = tensor.raw_data;
  const count = tensorElementCount(tensor);
  if (raw && raw.byteLength > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      switch (type) {
        case TensorDataType.FLOAT: out[i] = view.getFloat32(i * 4, true); break;
        case TensorDataType.DOUBLE: out[i] = view.getFloat64(i * 8, true); break;
        case TensorDataType.INT64: out[i] = Number(view.getBigInt64(i * 8, true)); break;
        case TensorDataType.UINT64: out[i] = Number(view.getBigUint64(i * 8, true)); break;
        case TensorDataType.INT32: out[i] = view.getInt32(i * 4, true); break;
        case TensorDataType.UINT32: out[i] = view.getUint32(i * 4, true); break;
        case TensorDataType.INT16: out[i] = view.getInt16(i * 2, true); break;
        case TensorDataType.UINT16: out[i] = view.getUint16(i * 2, true); break;
        case TensorDataType.INT8: out[i] = view.getInt8(i); break;
        case TensorDataType.UINT8: case TensorDataType.BOOL: out[i] = view.getUint8(i); break;
        default: throw new TypeError(`Tensor "${tensor.name ?? ''}": cannot read data type ${type} as numbers.`);
      }
    }
    return out;
  }
  switch (type) {
    case TensorDataType.FLOAT: return [...tensor.float_data];
    case TensorDataType.DOUBLE: return [...tensor.double_data];
    case TensorDataType.INT64: return [...tensor.int64_data];
    case TensorDataType.UINT64: case TensorDataType.UINT32: return [...tensor.uint64_data];
    case TensorDataType.INT32: case TensorDataType.INT16: case TensorDataType.UINT16: case TensorDataType.INT8:
    case TensorDataType.UINT8: case TensorDataType.BOOL: return [...tensor.int32_data];
    default: throw new TypeError(`Tensor "${tensor.name ?? ''}": cannot read data type ${type} as numbers.`);
  }
}
