/**
 * Image bytes → the encoder's float32 NCHW input, following a bundle's {@link PreprocessSpec}:
 * decode (first frame, EXIF orientation applied), resize to the exact model size, drop alpha,
 * 8-bit sRGB, then `((pixel * rescale) - mean[c]) / std[c]` per channel, channel-planar.
 * Dropping alpha (rather than flattening on a colour) matches PIL's `convert("RGB")`, which is
 * what both our trainer and HF image processors do.
 */
import sharp, { type Sharp } from 'sharp';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { PreprocessSpec } from './bundle-types.ts';

/** Limits of one decode. */
export interface PreprocessOptions {
  /** Refuse images with more pixels than this (decompression bombs); sharp's default is 268M. */
  readonly maxPixels?: number;
}

/** Float32 values of one image: 3 * height * width. */
export function tensorSize(spec: PreprocessSpec): number {
  return 3 * spec.width * spec.height;
}

/**
 * Normalize interleaved 8-bit RGB pixels (exactly `spec.width` x `spec.height`) into `out` at
 * `offset`, channel-planar. Exposed for callers that already hold raw pixels.
 */
export function rgbToTensor(
  rgb: Uint8Array,
  spec: PreprocessSpec,
  out?: Float32Array,
  offset = 0,
): Float32Array {
  const plane = spec.width * spec.height;
  if (rgb.length !== plane * 3) {
    throw new PipelineError(
      ErrorCodes.INTERNAL,
      `expected ${plane * 3} RGB bytes for ${spec.width}x${spec.height}, got ${rgb.length}`,
    );
  }
  const target = out ?? new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const mean = spec.mean[c] ?? 0;
    const std = spec.std[c] ?? 1;
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) target[base + i] = ((rgb[i * 3 + c] ?? 0) * spec.rescale - mean) / std;
  }
  return target;
}

/** Decode and resize one image to the model's exact size: interleaved 8-bit RGB. */
export async function decodeToModelSize(
  bytes: Uint8Array,
  spec: PreprocessSpec,
  options: PreprocessOptions = {},
): Promise<Uint8Array> {
  if (bytes.byteLength === 0) throw new PipelineError(ErrorCodes.IMAGE_EMPTY, 'image is empty');
  const open = (input: Uint8Array): Sharp =>
    sharp(input, {
      autoOrient: true,
      failOn: 'error',
      pages: 1,
      ...(options.maxPixels === undefined ? {} : { limitInputPixels: options.maxPixels }),
    });
  try {
    let pipeline: Sharp;
    if (spec.fit === 'cover' && spec.shortestEdge !== undefined) {
      // HF order: shortest side to `shortestEdge`, then a centre crop of the model size.
      const { data, info } = await open(bytes)
        .resize(spec.shortestEdge, spec.shortestEdge, { fit: 'outside', kernel: spec.kernel })
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      const width = Math.min(spec.width, info.width);
      const height = Math.min(spec.height, info.height);
      pipeline = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
        .extract({
          left: Math.floor((info.width - width) / 2),
          top: Math.floor((info.height - height) / 2),
          width,
          height,
        })
        .resize(spec.width, spec.height, { fit: 'fill', kernel: spec.kernel });
    } else {
      pipeline = open(bytes).resize(spec.width, spec.height, {
        fit: spec.fit,
        position: 'centre',
        kernel: spec.kernel,
      });
    }
    const { data, info } = await pipeline
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== spec.width || info.height !== spec.height) {
      throw new PipelineError(
        ErrorCodes.IMAGE_DECODE_FAILED,
        `decoded to ${info.width}x${info.height}x${info.channels}, expected ${spec.width}x${spec.height}x3`,
      );
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (err) {
    if (err instanceof PipelineError) throw err;
    const message = (err as Error).message;
    const code = /pixel limit/i.test(message)
      ? ErrorCodes.PIXEL_LIMIT_EXCEEDED
      : ErrorCodes.IMAGE_DECODE_FAILED;
    throw new PipelineError(code, `cannot decode image: ${message}`, {
      cause: err,
      context: { bytes: bytes.byteLength },
    });
  }
}

/** One image → its float32 `[3, height, width]` tensor data. */
export async function preprocessImage(
  bytes: Uint8Array,
  spec: PreprocessSpec,
  options: PreprocessOptions = {},
): Promise<Float32Array> {
  return rgbToTensor(await decodeToModelSize(bytes, spec, options), spec);
}

/**
 * A batch of images → float32 `[n, 3, height, width]` data. Fails on the first bad image with
 * its index in the error context; callers that want per-image failures preprocess one by one.
 */
export async function preprocessBatch(
  images: readonly Uint8Array[],
  spec: PreprocessSpec,
  options: PreprocessOptions = {},
): Promise<Float32Array> {
  const size = tensorSize(spec);
  const out = new Float32Array(size * images.length);
  const decoded = await Promise.all(
    images.map((bytes, index) =>
      decodeToModelSize(bytes, spec, options).catch((err: unknown) => {
        const e = PipelineError.from(err, ErrorCodes.IMAGE_DECODE_FAILED);
        throw new PipelineError(e.code, `image ${index}: ${e.message}`, {
          context: { ...e.context, index },
          cause: e.cause ?? e,
        });
      }),
    ),
  );
  decoded.forEach((rgb, i) => rgbToTensor(rgb, spec, out, i * size));
  return out;
}
