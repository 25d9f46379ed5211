/**
 * The project's one seeded PRNG (mulberry32): weight init, shuffling, dropout masks, test backbones, fixtures.
 * Deterministic across platforms: only 32-bit integer arithmetic (Math.imul) and one exact division.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng: 'seed' must be a finite number, got ${seed}.`);
    this.state = seed >>> 0;
  }

  /** Uniform integer in [0, 2^32). */
  nextUint32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n), n ≤ 2^32 (rejection sampling, no modulo bias). */
  nextInt(n: number): number {
    const limit = 4294967296 - (4294967296 % n);
    let value = this.nextUint32();
    while (value >= limit) value = this.nextUint32();
    return value % n;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle(values: Int32Array | Uint32Array): void {
    for (let i = values.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = values[i]!;
      values[i] = values[j]!;
      values[j] = tmp;
    }
  }
}

/** Uniform floats in [0, 1) from `new Rng(seed)`, as a plain function. */
export function uniformStream(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.nextFloat();
}

/** An independent stream for `purpose` derived from a user seed (splitmix32-style mixing). */
export function deriveSeed(seed: number, purpose: number): number {
  let z = (Math.trunc(seed) + Math.imul(purpose, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
