/**
 * Seeded pseudo-random numbers for the synthetic generator. Hand-written rather than a
 * dependency because the output must never change across library upgrades: datasets and
 * tests are pinned to byte-identical scenes per seed.
 */

/** A source of uniform floats in [0, 1) with a few helpers. */
export interface Random {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** Fisher–Yates shuffled copy. */
  shuffle<T>(items: readonly T[]): T[];
}

/** Mulberry32 generator: 32-bit state, good enough statistics for procedural content. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    pick<T>(items: readonly T[]): T {
      const item = items[int(0, items.length - 1)];
      if (item === undefined) throw new RangeError('pick() from an empty array');
      return item;
    },
    shuffle<T>(items: readonly T[]): T[] {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(0, i);
        [out[i], out[j]] = [out[j] as T, out[i] as T];
      }
      return out;
    },
  };
}

/** MurmurHash3's 32-bit finalizer: a bijection on uint32 that scatters nearby inputs. */
export function mix32(value: number): number {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The seed of scene `index` of a run started with `baseSeed`. For a fixed base seed it is a
 * bijection of the index (odd multiplier, then a bijective mix), so the scenes of one run
 * never share a seed, hence never share an id.
 */
export function deriveSceneSeed(baseSeed: number, index: number): number {
  return mix32((baseSeed + Math.imul(index, 0x9e3779b9)) >>> 0);
}
