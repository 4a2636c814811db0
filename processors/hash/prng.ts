/**
 * A small seeded pseudo-random number generator for reproducible augmentation and sampling.
 *
 * Written here rather than taken from a package because it is a dozen lines, must never
 * change its sequence (recorded seeds must replay to the same bytes) and needs no I/O.
 * mulberry32 is not cryptographic; it is fast, has a full 2^32 period and passes the
 * statistical tests that matter for augmentation parameters and noise.
 */
import { createHash } from 'node:crypto';

/** A seeded stream of pseudo-random numbers. */
export interface Prng {
  /** The next float in [0, 1). */
  next(): number;
  /** A float uniformly drawn from [min, max). */
  uniform(min: number, max: number): number;
  /** An integer uniformly drawn from [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** A standard-normal draw (mean 0, standard deviation 1), by Box-Muller. */
  normal(): number;
}

/** The raw mulberry32 generator: returns a function yielding floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A 32-bit seed derived from any string or number parts, e.g. `deriveSeed(seed, 'variant', 3)`.
 * Hashing (rather than adding) the parts keeps nearby seeds' streams unrelated.
 */
export function deriveSeed(...parts: readonly (string | number)[]): number {
  const digest = createHash('sha256').update(parts.map(String).join('\u0000')).digest();
  return digest.readUInt32LE(0);
}

/** A {@link Prng} over mulberry32 for the given seed (numbers are used as-is, strings hashed). */
export function createPrng(seed: number | string): Prng {
  const next = mulberry32(typeof seed === 'number' ? seed : deriveSeed(seed));
  return {
    next,
    uniform: (min, max) => min + (max - min) * next(),
    int: (min, max) => min + Math.floor((max - min + 1) * next()),
    normal: () => {
      // 1 - next() lies in (0, 1], so the logarithm is finite.
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
  };
}
