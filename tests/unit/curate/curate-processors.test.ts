import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NearDuplicateIndex } from '../../../processors/curate/near-duplicate-index.ts';
import { qualityGate, QualityGateOptionsSchema } from '../../../processors/curate/quality-gate.ts';
import { splitOf } from '../../../processors/curate/split.ts';
import { createPrng } from '../../../processors/hash/prng.ts';

function randomHash(next: () => number): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += Math.floor(next() * 16).toString(16);
  return s;
}

function flip(hash: string, bits: number[]): string {
  let v = BigInt(`0x${hash}`);
  for (const b of bits) v ^= 1n << BigInt(b);
  return v.toString(16).padStart(16, '0');
}

function hamming(a: string, b: string): number {
  let x = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let n = 0;
  while (x > 0n) {
    n += Number(x & 1n);
    x >>= 1n;
  }
  return n;
}

test('the BK-tree finds exactly what a linear scan finds, nearest first', () => {
  const prng = createPrng(7);
  const next = () => prng.next();
  const index = new NearDuplicateIndex();
  const hashes = new Map<string, string>();
  for (let i = 0; i < 2000; i++) {
    const h = randomHash(next);
    hashes.set(`img${i}`, h);
    index.add(`img${i}`, h);
  }
  for (let q = 0; q < 200; q++) {
    const base = [...hashes.values()][Math.floor(next() * hashes.size)]!;
    const query = flip(base, [Math.floor(next() * 64), Math.floor(next() * 64), Math.floor(next() * 64)]);
    let best: { id: string; distance: number } | null = null;
    for (const [id, h] of hashes) {
      const d = hamming(h, query);
      if (d <= 6 && (best === null || d < best.distance || (d === best.distance && id < best.id))) best = { id, distance: d };
    }
    assert.deepEqual(index.nearest(query, 6), best);
  }
});

test('checkAndAdd: a near copy is a duplicate of the first; replays of either give the same answers', () => {
  const index = new NearDuplicateIndex();
  const a = 'f0f0f0f0f0f0f0f0';
  assert.equal(index.checkAndAdd('a', a, 6), null);
  assert.deepEqual(index.checkAndAdd('b', flip(a, [1, 9]), 6), { id: 'a', distance: 2 });
  assert.equal(index.checkAndAdd('a', a, 6), null, 'a replay of the original is still an original');
  assert.deepEqual(index.checkAndAdd('b', flip(a, [1, 9]), 6), { id: 'a', distance: 2 }, 'a replay of the copy is still its duplicate');
  assert.equal(index.checkAndAdd('c', flip(a, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), 6), null, 'far apart is not a duplicate');
  assert.equal(index.size, 2, 'duplicates are not indexed');
});

test('the quality gate gives a reason for each failed threshold', () => {
  const o = QualityGateOptionsSchema.parse({});
  assert.deepEqual(qualityGate({ width: 640, height: 480, blur: 150, brightness: 0.5, contrast: 0.2 }, o), { passed: true, reasons: [] });
  const v = qualityGate({ width: 20, height: 200, blur: 0.1, brightness: 0.99, contrast: 0.001 }, o);
  assert.equal(v.passed, false);
  assert.deepEqual(v.reasons.map((r) => r.split(':')[0]), ['TOO_SMALL', 'ASPECT_RATIO', 'BLURRY', 'TOO_BRIGHT', 'LOW_CONTRAST']);
});

test('the split is deterministic by content and close to the configured ratios', () => {
  const counts = { train: 0, val: 0, test: 0 };
  for (let i = 0; i < 10_000; i++) counts[splitOf(`sha-${i}`)]++;
  assert.equal(splitOf('abc'), splitOf('abc'));
  assert.ok(Math.abs(counts.train / 10_000 - 0.8) < 0.02);
  assert.ok(Math.abs(counts.val / 10_000 - 0.1) < 0.02);
  assert.ok(Math.abs(counts.test / 10_000 - 0.1) < 0.02);
});
