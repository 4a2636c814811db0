import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPrng, deriveSeed, mulberry32 } from '../../../processors/hash/prng.ts';

describe('mulberry32', () => {
  it('never changes its sequence (recorded seeds must replay)', () => {
    const next = mulberry32(42);
    const firstThree = [next(), next(), next()].map((v) => Math.round(v * 2 ** 32));
    assert.deepEqual(firstThree, [2581720956, 1925393290, 3661312704]);
  });

  it('yields floats in [0, 1) with a plausible mean', () => {
    const next = mulberry32(7);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const v = next();
      assert.ok(v >= 0 && v < 1);
      sum += v;
    }
    assert.ok(Math.abs(sum / 10_000 - 0.5) < 0.02);
  });
});

describe('createPrng / deriveSeed', () => {
  it('gives identical streams for identical seeds, numeric or string', () => {
    for (const seed of [1, 'abc']) {
      const a = createPrng(seed);
      const b = createPrng(seed);
      for (let i = 0; i < 100; i++) assert.equal(a.next(), b.next());
    }
  });

  it('keeps int() within its inclusive bounds and reaches both ends', () => {
    const prng = createPrng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const v = prng.int(2, 5);
      assert.ok(Number.isInteger(v) && v >= 2 && v <= 5);
      seen.add(v);
    }
    assert.deepEqual([...seen].sort(), [2, 3, 4, 5]);
  });

  it('derives different, stable 32-bit seeds from different parts', () => {
    assert.equal(deriveSeed('s', 'variant', 1), deriveSeed('s', 'variant', 1));
    assert.notEqual(deriveSeed('s', 'variant', 1), deriveSeed('s', 'variant', 2));
    const seed = deriveSeed(9);
    assert.ok(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32);
  });
});
