/**
 * The band index of 64-bit perceptual hashes, as pure maths: with Hamming radius r, the 64 bits
 * are split into r + 1 disjoint bands. Two hashes within distance r differ in at most r bits, so
 * by pigeonhole at least one of the r + 1 bands holds none of those bits: the two hashes agree
 * exactly on it. A look-up is therefore r + 1 equality look-ups on (band, value) — which any
 * document store indexes — followed by the exact distance on the few candidates found.
 *
 * The bands are contiguous and as even as possible (sizes differ by at most one bit), so each
 * band is as selective as it can be: a random hash shares a given band of w bits with
 * probability 2^-w, any of the r + 1 bands with about (r + 1) · 2^-(64 / (r + 1)).
 */

/** Hash bits. */
const BITS = 64;

/** One band of a hash: its number (0..r) and the value of its bits (lowercase hex). */
export interface HashBand {
  readonly band: number;
  readonly value: string;
}

/** Where a band sits in the hash: its first bit (from the least significant) and its width. */
export interface BandSpan {
  readonly shift: number;
  readonly width: number;
}

const HEX64 = /^[0-9a-f]{16}$/;

function parseHash(hashHex: string): bigint {
  if (!HEX64.test(hashHex))
    throw new TypeError(`a 64-bit hash is 16 lowercase hex digits, got ${JSON.stringify(hashHex)}`);
  return BigInt(`0x${hashHex}`);
}

function assertRadius(radius: number): void {
  if (!Number.isInteger(radius) || radius < 0 || radius >= BITS)
    throw new RangeError(`radius must be an integer from 0 to ${BITS - 1}, got ${radius}`);
}

/** The r + 1 bands of radius `radius`, covering the 64 bits once. */
export function bandLayout(radius: number): BandSpan[] {
  assertRadius(radius);
  const count = radius + 1;
  const base = Math.floor(BITS / count);
  const wider = BITS % count; // the first `wider` bands take one bit more
  const spans: BandSpan[] = [];
  let shift = 0;
  for (let i = 0; i < count; i++) {
    const width = base + (i < wider ? 1 : 0);
    spans.push({ shift, width });
    shift += width;
  }
  return spans;
}

/** The bands of a hash (16 hex digits) for radius `radius`. */
export function bandsOf(hashHex: string, radius: number): HashBand[] {
  const hash = parseHash(hashHex);
  return bandLayout(radius).map(({ shift, width }, band) => ({
    band,
    value: ((hash >> BigInt(shift)) & ((1n << BigInt(width)) - 1n)).toString(16),
  }));
}

/** popcount of a 32-bit value. */
function popcount32(v: number): number {
  let y = v - ((v >>> 1) & 0x55555555);
  y = (y & 0x33333333) + ((y >>> 2) & 0x33333333);
  return Math.imul((y + (y >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** Hamming distance (0..64) of two 64-bit hashes given as 16 hex digits. */
export function hammingDistance(aHex: string, bHex: string): number {
  const x = parseHash(aHex) ^ parseHash(bHex);
  return popcount32(Number(x & 0xffffffffn)) + popcount32(Number(x >> 32n));
}

/** True when the two hashes agree on at least one band of radius `radius`. */
export function sharesBand(aHex: string, bHex: string, radius: number): boolean {
  const a = bandsOf(aHex, radius);
  const b = bandsOf(bHex, radius);
  return a.some((band, i) => band.value === b[i]!.value);
}
