/**
 * Perceptual hashes (dHash, pHash) and their Hamming distance.
 *
 * Both are 64-bit fingerprints written as 16 lowercase hex characters; near-identical
 * images (re-encoded, resized, lightly edited) land a few bits apart, different images
 * about 32 bits apart. Curation uses them to find near-duplicates. Written here rather
 * than taken from a package because the npm options either decode images themselves
 * (we already hold decoded pixels) or pull native dependencies we do not otherwise need.
 */
import sharp from 'sharp';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { resampledLuma, type RawImage } from './raw-image.ts';

/** The two perceptual hashes of an image. */
export interface PerceptualHashes {
  /** Difference hash: sign of horizontal gradients on a 9x8 greyscale thumbnail. */
  readonly dHash: string;
  /** DCT hash: low 8x8 frequencies of a 32x32 greyscale thumbnail against their median. */
  readonly pHash: string;
}

const HASH_PATTERN = /^[0-9a-f]{16}$/;

/** dHash of a 9-wide, 8-high luma grid (row-major). */
export function dHashFromGrid(luma: ArrayLike<number>): string {
  expectLength(luma, 9 * 8, 'dHash');
  const bits: boolean[] = [];
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) bits.push(at(luma, y * 9 + x + 1) > at(luma, y * 9 + x));
  }
  return bitsToHex(bits);
}

const DCT_SIZE = 32;
const DCT_KEEP = 8;
// cos((2x+1)uπ/2N) for the kept frequencies u only: the hash never looks at the others.
const COSINES: readonly Float64Array[] = Array.from({ length: DCT_KEEP }, (_, u) =>
  Float64Array.from({ length: DCT_SIZE }, (_v, x) => Math.cos(((2 * x + 1) * u * Math.PI) / (2 * DCT_SIZE))),
);

/** pHash of a 32x32 luma grid (row-major). */
export function pHashFromGrid(luma: ArrayLike<number>): string {
  expectLength(luma, DCT_SIZE * DCT_SIZE, 'pHash');
  // Separable DCT-II: transform rows (keeping 8 frequencies), then columns.
  const rows = new Float64Array(DCT_SIZE * DCT_KEEP);
  for (let y = 0; y < DCT_SIZE; y++) {
    for (let u = 0; u < DCT_KEEP; u++) {
      const cos = COSINES[u] as Float64Array;
      let sum = 0;
      for (let x = 0; x < DCT_SIZE; x++) sum += at(luma, y * DCT_SIZE + x) * (cos[x] ?? 0);
      rows[y * DCT_KEEP + u] = sum;
    }
  }
  const coefficients: number[] = [];
  for (let v = 0; v < DCT_KEEP; v++) {
    const cos = COSINES[v] as Float64Array;
    for (let u = 0; u < DCT_KEEP; u++) {
      let sum = 0;
      for (let y = 0; y < DCT_SIZE; y++) sum += (rows[y * DCT_KEEP + u] ?? 0) * (cos[y] ?? 0);
      coefficients.push(sum);
    }
  }
  const sorted = [...coefficients].sort((a, b) => a - b);
  const median = ((sorted[31] ?? 0) + (sorted[32] ?? 0)) / 2;
  return bitsToHex(coefficients.map((c) => c > median));
}

/** Both perceptual hashes of an oriented, flattened raw image. */
export async function perceptualHashesOfRaw(image: RawImage): Promise<PerceptualHashes> {
  const [dGrid, pGrid] = await Promise.all([
    resampledLuma(image, 9, 8),
    resampledLuma(image, DCT_SIZE, DCT_SIZE),
  ]);
  return { dHash: dHashFromGrid(dGrid), pHash: pHashFromGrid(pGrid) };
}

/**
 * Both perceptual hashes of an encoded image (auto-oriented, alpha flattened on white).
 * Throws IMAGE_DECODE_FAILED when the bytes do not decode. Use it on already-trusted
 * images (e.g. normalized outputs); untrusted input goes through `normalizeImage`.
 */
export async function perceptualHashes(bytes: Uint8Array): Promise<PerceptualHashes> {
  try {
    const { data, info } = await sharp(bytes, { autoOrient: true, pages: 1, failOn: 'error' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return await perceptualHashesOfRaw({ data, width: info.width, height: info.height, channels: 3 });
  } catch (err) {
    throw new PipelineError(ErrorCodes.IMAGE_DECODE_FAILED, `cannot hash image: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Number of differing bits between two 16-hex-character hashes. */
export function hammingDistance(a: string, b: string): number {
  const left = a.toLowerCase();
  const right = b.toLowerCase();
  if (!HASH_PATTERN.test(left) || !HASH_PATTERN.test(right)) {
    throw new PipelineError(ErrorCodes.INTERNAL, 'hammingDistance expects two 16-hex-character hashes', {
      context: { a, b },
    });
  }
  // Two 32-bit halves keep the arithmetic in exact small integers (no BigInt needed).
  return (
    popcount32(parseInt(left.slice(0, 8), 16) ^ parseInt(right.slice(0, 8), 16)) +
    popcount32(parseInt(left.slice(8), 16) ^ parseInt(right.slice(8), 16))
  );
}

function popcount32(value: number): number {
  let v = value >>> 0;
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

function bitsToHex(bits: readonly boolean[]): string {
  let hex = '';
  for (let i = 0; i < bits.length; i += 4) {
    const nibble = (bits[i] ? 8 : 0) | (bits[i + 1] ? 4 : 0) | (bits[i + 2] ? 2 : 0) | (bits[i + 3] ? 1 : 0);
    hex += nibble.toString(16);
  }
  return hex;
}

function at(values: ArrayLike<number>, index: number): number {
  return values[index] ?? 0;
}

function expectLength(values: ArrayLike<number>, length: number, what: string): void {
  if (values.length !== length) {
    throw new PipelineError(
      ErrorCodes.INTERNAL,
      `${what} expects ${length} luma values, got ${values.length}`,
    );
  }
}
