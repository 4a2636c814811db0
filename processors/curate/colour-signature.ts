import sharp from 'sharp';

/** Side of the colour grid. */
const GRID = 8;

/**
 * A small colour signature of an image: its 8×8 RGB thumbnail. Perceptual hashes look at luma
 * structure only, so two pictures that differ only in colour (a red circle and a green one)
 * collide; comparing signatures confirms a hash match before an image is called a duplicate.
 */
export async function colourSignature(bytes: Uint8Array): Promise<Uint8Array> {
  const { data } = await sharp(bytes).removeAlpha().resize(GRID, GRID, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

/** Mean absolute difference of two signatures, 0 (identical) to 1. */
export function signatureDistance(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return 1;
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / (a.length * 255);
}
