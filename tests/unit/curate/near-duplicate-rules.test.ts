import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bandLayout, bandsOf, hammingDistance, sharesBand } from '../../../processors/curate/phash-bands.ts';
import {
  compareSurvivor,
  survivorOf,
  survivors,
  type SurvivorRank,
} from '../../../processors/curate/survivor-rule.ts';
import { mulberry32 } from '../../../processors/hash/prng.ts';

const random = mulberry32(20260101);
const randomHash = (): string =>
  Array.from({ length: 16 }, () => Math.floor(random() * 16).toString(16)).join('');
const flip = (hex: string, bits: readonly number[]): string => {
  let h = BigInt(`0x${hex}`);
  for (const b of bits) h ^= 1n << BigInt(b);
  return h.toString(16).padStart(16, '0');
};
/** `k` distinct bit positions out of 64. */
const distinctBits = (k: number): number[] => {
  const bits = new Set<number>();
  while (bits.size < k) bits.add(Math.floor(random() * 64));
  return [...bits];
};

test('the band layout splits the 64 bits into r + 1 disjoint, even bands', () => {
  for (const r of [0, 1, 2, 5, 6, 7, 15, 32, 63]) {
    const spans = bandLayout(r);
    assert.equal(spans.length, r + 1);
    let next = 0;
    for (const s of spans) {
      assert.equal(s.shift, next, 'contiguous and disjoint');
      next += s.width;
    }
    assert.equal(next, 64, 'covers every bit');
    const widths = spans.map((s) => s.width);
    assert.ok(Math.max(...widths) - Math.min(...widths) <= 1, `even widths for r=${r}: ${widths.join(',')}`);
  }
  assert.throws(() => bandLayout(64), RangeError);
  assert.throws(() => bandLayout(-1), RangeError);
  assert.throws(() => bandsOf('xyz', 6), TypeError);
});

test('any two hashes within distance r share a band (pigeonhole), also when every flipped bit lands in its own band', () => {
  for (const r of [0, 1, 2, 3, 6, 10, 16, 32]) {
    for (let trial = 0; trial < 300; trial++) {
      const a = randomHash();
      const k = Math.floor(random() * (r + 1));
      const b = flip(a, distinctBits(k));
      assert.equal(hammingDistance(a, b), k);
      assert.ok(sharesBand(a, b, r), `r=${r}: ${a} and ${b} at distance ${k} share no band`);
    }
    // The adversary: one flipped bit in each of r bands leaves exactly the last band intact.
    const a = randomHash();
    const b = flip(
      a,
      bandLayout(r)
        .slice(0, r)
        .map((s) => s.shift),
    );
    assert.equal(hammingDistance(a, b), r);
    const [ba, bb] = [bandsOf(a, r), bandsOf(b, r)];
    assert.deepEqual(
      ba.map((x, i) => x.value === bb[i]!.value),
      [...Array<boolean>(r).fill(false), true],
    );
  }
});

test('a random pair far apart rarely shares a band (about (r + 1) · 2^-(64 / (r + 1)))', () => {
  const r = 6;
  let shared = 0;
  let pairs = 0;
  while (pairs < 5000) {
    const [a, b] = [randomHash(), randomHash()];
    if (hammingDistance(a, b) <= 2 * r) continue;
    pairs++;
    if (sharesBand(a, b, r)) shared++;
  }
  // Expected 2^-10 + 6 · 2^-9 ≈ 1.3 % for 64 bits in bands of 10 + 6 × 9.
  assert.ok(shared / pairs < 0.03, `${shared} of ${pairs} far pairs share a band`);
});

test('hamming distance counts differing bits', () => {
  assert.equal(hammingDistance('0000000000000000', 'ffffffffffffffff'), 64);
  assert.equal(hammingDistance('8000000000000001', '0000000000000000'), 2);
  const a = randomHash();
  assert.equal(hammingDistance(a, a), 0);
});

const img = (
  imageId: string,
  ingestedAt: string,
  passedGate = true,
): SurvivorRank & { passedGate: boolean } => ({ imageId, ingestedAt, passedGate });

test('the survivor is the image ingested earliest, ties broken by the smaller id', () => {
  const a = img('b1', '2026-01-01T00:00:00.000Z');
  const b = img('a9', '2026-01-01T00:00:01.000Z');
  const c = img('a0', '2026-01-01T00:00:01.000Z');
  assert.ok(compareSurvivor(a, b) < 0, 'earlier ingest wins over a smaller id');
  assert.ok(compareSurvivor(c, b) < 0, 'same time: the smaller id');
  assert.equal(compareSurvivor(a, a), 0);
  assert.equal(survivorOf([b, c, a])?.imageId, 'b1');
  assert.equal(survivorOf([]), undefined);
});

test('survivors do not depend on the order images are judged in; rejected images never survive nor shadow', () => {
  const all = [
    img('p1', '2026-01-01T00:00:03.000Z'),
    img('p2', '2026-01-01T00:00:01.000Z'),
    img('q1', '2026-01-01T00:00:02.000Z'),
    img('q2', '2026-01-01T00:00:02.000Z'),
    img('r1', '2026-01-01T00:00:00.000Z', false), // rejected, ingested first
    img('r2', '2026-01-01T00:00:04.000Z'),
    img('s1', '2026-01-01T00:00:05.000Z'),
  ];
  const group = (id: string): string => id[0]!;
  const confirmed = (a: { imageId: string }, b: { imageId: string }): boolean =>
    group(a.imageId) === group(b.imageId);
  const expected = ['r2', 'p2', 'q1', 's1'];
  for (let i = 0; i < 50; i++) {
    const shuffled = [...all].sort(() => random() - 0.5);
    assert.deepEqual(
      survivors(shuffled, confirmed)
        .map((s) => s.imageId)
        .sort(),
      [...expected].sort(),
    );
  }
});
