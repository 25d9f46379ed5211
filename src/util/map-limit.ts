/**
 * Maps `values` through `fn` with at most `limit` calls in flight, and returns the results in input order.
 * Rejects with the first error (calls already started run to completion, no new ones start).
 */
export async function mapLimit<T, R>(values: readonly T[], limit: number,
  fn: (value: T, index: number) => Promise<R>): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`mapLimit: 'limit' must be a positive integer, got ${limit}.`);
  const results = new Array<R>(values.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < values.length) {
      const index = next++;
      try {
        results[index] = await fn(values[index]!, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, values.length) }, worker));
  return results;
}
