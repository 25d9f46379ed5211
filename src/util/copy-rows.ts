/** Row gathers on row-major matrices held in typed arrays. */

/** Rows `rows` (in that order) of the row-major matrix `values` of `width` columns, copied into a new array. */
export function copyRows<T extends Float32Array | Uint8Array>(values: T, width: number, rows: ArrayLike<number>): T {
  const out = new (values.constructor as new (length: number) => T)(rows.length * width);
  for (let index = 0; index < rows.length; index++) out.set(values.subarray(rows[index]! * width, (rows[index]! + 1) * width), index * width);
  return out;
}
