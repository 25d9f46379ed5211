/**
 * The project's seeded PRNGs; both are deterministic across platforms (32-bit integer arithmetic and one exact
 * division only):
 * - {@link Rng} (mulberry32, seeded by a number): weight init, shuffling, dropout masks, test backbones, fixtures.
 * - {@link keyedStream} (sfc32, seeded by sha256 of a string): the parameters of cached augmented views.
 */
import { sha256 } from './hash.js';

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

  /**
   * Skips `count` draws and returns the state they start from. The generator is counter-based (draw k after this
   * state mixes state + k·0x6d2b79f5), so a kernel handed that state draws the same values as `count` calls of
   * `nextUint32` (train/network.ts's dropout masks in WebAssembly).
   */
  skip(count: number): number {
    if (!(Number.isInteger(count) && count >= 0)) throw new RangeError(`Rng.skip: 'count' must be an integer ≥ 0, got ${count}.`);
    const start = this.state;
    this.state = (start + Math.imul(count, 0x6d2b79f5)) >>> 0;
    return start;
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

/**
 * Uniform floats in [0, 1) from sfc32, seeded with the first 128 bits of sha256(key) and 12 discarded outputs.
 *
 * Augmented views use it (image/augment.ts): each view's parameters are drawn from a stream keyed by the image hash,
 * the augmentation seed and the view index. It stays sfc32, and is not replaced by {@link Rng}, because the embedding
 * cache stores those views under keys made of the same inputs (augmentation spec, seed, view index), not of the
 * drawn values: another generator would draw other crops and flips for the same keys, and every view already cached
 * would be served as if it were the new one. Changing this function requires bumping `augmentSpecKey`'s version.
 */
export function keyedStream(key: string): () => number {
  const digest = sha256(key);
  let a = Number.parseInt(digest.slice(0, 8), 16) | 0;
  let b = Number.parseInt(digest.slice(8, 16), 16) | 0;
  let c = Number.parseInt(digest.slice(16, 24), 16) | 0;
  let d = Number.parseInt(digest.slice(24, 32), 16) | 0;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}
