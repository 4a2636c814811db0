/**
 * Uncompressed 8-bit pixel buffers passed between image processing steps, and the
 * greyscale (luma) view that hashing and quality measures work on.
 */
import sharp from 'sharp';

/** Interleaved 8-bit pixels, row-major, `channels` samples per pixel. */
export interface RawImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 2 | 3 | 4;
}

/**
 * Luma (Rec. 601 weights, 0..255) of each pixel. Alpha is ignored: callers flatten first.
 * Rec. 601 rather than 709 because it is what perceptual-hash implementations use, which
 * keeps our hashes comparable with theirs.
 */
export function lumaOf(image: RawImage): Uint8Array {
  const { data, width, height, channels } = image;
  const out = new Uint8Array(width * height);
  if (channels <= 2) {
    for (let i = 0; i < out.length; i++) out[i] = data[i * channels] ?? 0;
    return out;
  }
  for (let i = 0; i < out.length; i++) {
    const o = i * channels;
    // Integer weights summing to 1024: 0.299, 0.587, 0.114.
    out[i] = ((data[o] ?? 0) * 306 + (data[o + 1] ?? 0) * 601 + (data[o + 2] ?? 0) * 117 + 512) >> 10;
  }
  return out;
}

/** Resample a raw image to exactly `width` x `height` (aspect ratio ignored) and return its luma. */
export async function resampledLuma(image: RawImage, width: number, height: number): Promise<Uint8Array> {
  const { data, info } = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: image.channels },
  })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return lumaOf({ data, width: info.width, height: info.height, channels: image.channels });
}
