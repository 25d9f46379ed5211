/**
 * Back-pressure between a producer and a slower consumer: {@link runAhead} pulls a source in the background and
 * starts work on up to `depth` items before the consumer asks for them, so the next items are ready (or in
 * progress) while the consumer works on the current one, and memory stays bounded by `depth`.
 */

/** A bounded FIFO between a producer and a consumer; `fail` wakes both with an error. */
export class BoundedQueue<T> {
  readonly #items: T[] = [];
  #waiters: Array<() => void> = [];
  #closed = false;
  #error: unknown = undefined;
  #failed = false;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`BoundedQueue: 'capacity' must be a positive integer, got ${capacity}.`);
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits for room, then appends. Throws the failure once the queue failed. */
  async push(item: T): Promise<void> {
    while (this.#items.length >= this.capacity && !this.#failed) await new Promise<void>((r) => this.#waiters.push(r));
    if (this.#failed) throw this.#error;
    this.#items.push(item);
    this.#wake();
  }

  /** The next item, or undefined once closed and drained. Throws the failure once the queue failed. */
  async shift(): Promise<T | undefined> {
    while (this.#items.length === 0 && !this.#closed && !this.#failed) await new Promise<void>((r) => this.#waiters.push(r));
    if (this.#failed) throw this.#error;
    const item = this.#items.shift();
    this.#wake();
    return item;
  }

  /** No more items will come; shift drains what is left, then returns undefined. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  /** Both sides throw `error` from now on (the first failure wins). */
  fail(error: unknown): void {
    if (!this.#failed) {
      this.#failed = true;
      this.#error = error ?? new Error('aborted');
    }
    this.#wake();
  }
}

export interface RunAheadOptions {
  /** Fails the pipeline with the signal's reason when aborted. */
  readonly signal?: AbortSignal;
}

/**
 * Yields `start(item)`'s results for every item of `source`, in order. A background pump pulls `source` and
 * starts up to `depth` items ahead of the consumer. The first error from the source or from a started item ends
 * the iteration with that error; leaving the loop early stops the pump (and waits for it, so nothing pulls the
 * source after the loop ends).
 */
export async function* runAhead<T, U>(source: AsyncIterable<T>, depth: number, start: (item: T) => Promise<U>,
  options: RunAheadOptions = {}): AsyncGenerator<U> {
  const { signal } = options;
  const queue = new BoundedQueue<Promise<U>>(depth);
  const onAbort = (): void => queue.fail(abortReason(signal!));
  signal?.addEventListener('abort', onAbort, { once: true });
  const pump = (async () => {
    for await (const item of source) {
      const started = start(item);
      started.catch(() => undefined);   // awaited by the consumer in order; avoid an unhandled rejection meanwhile
      await queue.push(started);
    }
    queue.close();
  })().catch((error: unknown) => queue.fail(error));
  try {
    for (;;) {
      const next = await queue.shift();
      if (next === undefined) return;
      yield await next;
    }
  } finally {
    queue.fail(new Error('runAhead: the consumer stopped'));   // stops the pump if it is still running
    signal?.removeEventListener('abort', onAbort);
    await pump;
  }
}

/** The error an aborted signal stands for. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}
