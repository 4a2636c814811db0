/**
 * Image normalization: untrusted upload bytes in, a privacy-safe, sRGB, model-sized image,
 * a thumbnail, content and perceptual hashes and quality figures out.
 *
 * Order of defences: byte-size and magic-byte checks before any decoder runs, header-only
 * metadata next (pixel bomb check), and only then one bounded decode (first frame, pixel
 * limit, strict failure on corrupt data, timeout). The decode goes straight to a working
 * resolution just large enough for every output, so later steps touch small buffers only.
 */
import sharp, { type Metadata, type Sharp } from 'sharp';
import { ErrorCodes, PipelineError, type ErrorCode } from '../../schemas/errors.ts';
import { sha256Hex } from '../hash/sha256.ts';
import {
  OUTPUT_MIME_TYPES,
  processingFingerprint,
  resolveNormalizeOptions,
  type NormalizeOptions,
  type NormalizeOptionsInput,
  type OutputFormat,
} from './normalize-options.ts';
import { perceptualHashesOfRaw } from './phash.ts';
import { lumaStatistics } from './quality.ts';
import { lumaOf, type RawImage } from './raw-image.ts';
import { checkImageBytes } from './check-image-bytes.ts';
import { IMAGE_MIME_TYPES, type ImageFormat } from './sniff-format.ts';

/** An encoded output image. */
export interface EncodedImage {
  readonly bytes: Uint8Array;
  readonly format: OutputFormat;
  readonly mime: string;
  readonly width: number;
  readonly height: number;
  /** SHA-256 hex of `bytes`. */
  readonly sha256: string;
}

/** Kinds of metadata found in (and removed from) the original. */
export type StrippedMetadata = 'exif' | 'xmp' | 'iptc' | 'icc' | 'comments' | 'photoshop';

/** What the original upload was. */
export interface OriginalImageInfo {
  readonly format: ImageFormat;
  readonly mime: string;
  readonly byteLength: number;
  /** SHA-256 hex of the original bytes (the content address of the bronze object). */
  readonly sha256: string;
  /** Stored width and height, before EXIF orientation. */
  readonly width: number;
  readonly height: number;
  /** EXIF orientation 1..8 (1 when absent). */
  readonly orientation: number;
  /** Width and height as displayed, after EXIF orientation. */
  readonly orientedWidth: number;
  readonly orientedHeight: number;
  readonly hasAlpha: boolean;
  /** Frames or pages in the file; only the first was used. */
  readonly pages: number;
  /** libvips colour space interpretation, e.g. `srgb`, `cmyk`, `b-w`, `rgb16`. */
  readonly colourSpace: string;
  /** libvips sample format, e.g. `uchar` (8-bit), `ushort` (16-bit). */
  readonly depth: string;
  readonly strippedMetadata: readonly StrippedMetadata[];
}

/** Quality figures, measured on the oriented image scaled to fit `analysisMaxSide`. */
export interface ImageQuality {
  /** Oriented width and height of the original. */
  readonly width: number;
  readonly height: number;
  /** width / height. */
  readonly aspectRatio: number;
  readonly hasAlpha: boolean;
  /** Variance of the Laplacian of luma (0..255 scale): low means blurry. */
  readonly blurVariance: number;
  /** Mean luma, 0..1. */
  readonly brightness: number;
  /** Standard deviation of luma, 0..0.5. */
  readonly contrast: number;
}

/** Everything normalization produces for one image. */
export interface NormalizedImage {
  /** Square `modelInput.size` image, sRGB, 3 channels, no metadata. */
  readonly modelInput: EncodedImage;
  /** At most `thumbnail.maxSide` on the longest side, aspect ratio kept, no metadata. */
  readonly thumbnail: EncodedImage;
  readonly original: OriginalImageInfo;
  /** Perceptual hashes of the oriented image (16 hex characters each). */
  readonly perceptual: { readonly dHash: string; readonly pHash: string };
  readonly quality: ImageQuality;
  /** {@link processingFingerprint} of the options used: the lineage preprocessing hash. */
  readonly fingerprint: string;
}

const SHARP_FORMAT_OF: Readonly<Record<ImageFormat, string>> = {
  jpeg: 'jpeg',
  png: 'png',
  webp: 'webp',
  gif: 'gif',
  tiff: 'tiff',
  avif: 'heif',
  heif: 'heif',
};

/**
 * Normalize one untrusted image. Throws a non-retriable {@link PipelineError} with code
 * IMAGE_EMPTY, IMAGE_TOO_LARGE, UNSUPPORTED_FORMAT, PIXEL_LIMIT_EXCEEDED or
 * IMAGE_DECODE_FAILED for bad input, and CONFIG_INVALID for bad options.
 */
export async function normalizeImage(
  bytes: Uint8Array,
  opts: NormalizeOptionsInput | NormalizeOptions = {},
): Promise<NormalizedImage> {
  const options = resolveNormalizeOptions(opts);
  const byteLength = bytes.byteLength;
  const { format } = checkImageBytes(bytes, { maxBytes: options.maxBytes });
  const meta = await readHeader(bytes, format);
  const pixels = meta.width * meta.height;
  if (pixels > options.maxPixels) {
    throw imageError(
      ErrorCodes.PIXEL_LIMIT_EXCEEDED,
      `image is ${meta.width}x${meta.height} (${pixels} pixels), limit is ${options.maxPixels}`,
      { format, width: meta.width, height: meta.height, pixels, maxPixels: options.maxPixels },
    );
  }

  const orientedWidth = meta.autoOrient.width;
  const orientedHeight = meta.autoOrient.height;
  const working = await decodeWorking(bytes, format, meta, options, orientedWidth, orientedHeight);
  const [modelInput, thumbnail, perceptual, stats] = await Promise.all([
    encodeModelInput(working, options),
    encodeThumbnail(working, options),
    perceptualHashesOfRaw(working),
    analyse(working, options),
  ]);

  const original: OriginalImageInfo = {
    format,
    mime: IMAGE_MIME_TYPES[format],
    byteLength,
    sha256: sha256Hex(bytes),
    width: meta.width,
    height: meta.height,
    orientation: meta.orientation ?? 1,
    orientedWidth,
    orientedHeight,
    hasAlpha: meta.hasAlpha,
    pages: meta.pages ?? 1,
    colourSpace: meta.space,
    depth: meta.depth,
    strippedMetadata: strippedMetadataOf(meta),
  };
  return {
    modelInput,
    thumbnail,
    original,
    perceptual,
    quality: {
      width: orientedWidth,
      height: orientedHeight,
      aspectRatio: orientedWidth / orientedHeight,
      hasAlpha: meta.hasAlpha,
      ...stats,
    },
    fingerprint: processingFingerprint(options),
  };
}

/** Header-only read: dimensions, orientation, metadata. Never decodes pixel data. */
async function readHeader(bytes: Uint8Array, format: ImageFormat): Promise<Metadata> {
  let meta: Metadata;
  try {
    // The pixel limit is checked by hand just after, so the error can carry the dimensions.
    meta = await sharp(bytes, { limitInputPixels: false, pages: 1, failOn: 'error' }).metadata();
  } catch (err) {
    throw fromSharpError(err, { format, stage: 'header' });
  }
  if (meta.format !== SHARP_FORMAT_OF[format]) {
    // The magic bytes and the decoder disagree: a polyglot or a mislabelled container.
    throw imageError(
      ErrorCodes.UNSUPPORTED_FORMAT,
      `magic bytes say ${format} but the decoder found ${meta.format}`,
      {
        sniffed: format,
        decoded: meta.format,
      },
    );
  }
  if (!(meta.width > 0 && meta.height > 0)) {
    throw imageError(ErrorCodes.IMAGE_DECODE_FAILED, 'image header has no dimensions', { format });
  }
  return meta;
}

/**
 * The one full decode: first frame, auto-oriented, flattened, 8-bit sRGB, 3 channels,
 * shrunk to the smallest size that still serves every output at full quality.
 */
async function decodeWorking(
  bytes: Uint8Array,
  format: ImageFormat,
  meta: Metadata,
  options: NormalizeOptions,
  width: number,
  height: number,
): Promise<RawImage> {
  const longest = Math.max(width, height);
  const scale = Math.min(
    1,
    Math.max(
      options.thumbnail.maxSide / longest,
      options.analysisMaxSide / longest,
      options.modelInput.fit === 'cover'
        ? options.modelInput.size / Math.min(width, height)
        : options.modelInput.size / longest,
    ),
  );
  let pipeline = sharp(bytes, {
    autoOrient: true,
    failOn: 'error',
    limitInputPixels: options.maxPixels,
    pages: 1,
  });
  if (options.timeoutSeconds > 0) pipeline = pipeline.timeout({ seconds: options.timeoutSeconds });
  if (scale < 1) {
    pipeline = pipeline.resize(
      Math.max(1, Math.round(width * scale)),
      Math.max(1, Math.round(height * scale)),
      {
        fit: 'fill',
      },
    );
  }
  try {
    const { data, info } = await pipeline
      .flatten({ background: options.background })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      throw imageError(ErrorCodes.IMAGE_DECODE_FAILED, `decoded to ${info.channels} channels, expected 3`, {
        format,
      });
    }
    return { data, width: info.width, height: info.height, channels: 3 };
  } catch (err) {
    if (err instanceof PipelineError) throw err;
    if (format === 'heif' && meta.compression === 'hevc') {
      // Prebuilt libvips has no HEVC decoder (patents); say so rather than "corrupt".
      throw imageError(
        ErrorCodes.UNSUPPORTED_FORMAT,
        'HEVC-compressed HEIF cannot be decoded by this build',
        {
          format,
          compression: 'hevc',
          reason: errorMessage(err),
        },
      );
    }
    throw fromSharpError(err, { format, stage: 'decode' });
  }
}

function rawInput(image: RawImage): Sharp {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } });
}

async function encodeModelInput(working: RawImage, options: NormalizeOptions): Promise<EncodedImage> {
  const { size, fit } = options.modelInput;
  const pipeline = rawInput(working).resize(size, size, {
    fit,
    position: 'centre',
    background: options.background,
  });
  return encode(pipeline, options);
}

async function encodeThumbnail(working: RawImage, options: NormalizeOptions): Promise<EncodedImage> {
  const side = options.thumbnail.maxSide;
  const pipeline = rawInput(working).resize(side, side, { fit: 'inside', withoutEnlargement: true });
  return encode(pipeline, options);
}

async function encode(pipeline: Sharp, options: NormalizeOptions): Promise<EncodedImage> {
  const { format, quality } = options.encode;
  switch (format) {
    case 'webp':
      pipeline = pipeline.webp({ quality });
      break;
    case 'jpeg':
      pipeline = pipeline.jpeg({ quality });
      break;
    case 'png':
      pipeline = pipeline.png({ compressionLevel: 9 });
      break;
  }
  // No keepMetadata()/withMetadata(): sharp writes no EXIF, XMP, IPTC or ICC by default,
  // and sRGB is what an untagged image means.
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
  return {
    bytes: data,
    format,
    mime: OUTPUT_MIME_TYPES[format],
    width: info.width,
    height: info.height,
    sha256: sha256Hex(data),
  };
}

async function analyse(working: RawImage, options: NormalizeOptions) {
  const side = options.analysisMaxSide;
  let image = working;
  if (Math.max(working.width, working.height) > side) {
    const { data, info } = await rawInput(working)
      .resize(side, side, { fit: 'inside' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    image = { data, width: info.width, height: info.height, channels: 3 };
  }
  return lumaStatistics(lumaOf(image), image.width, image.height);
}

function strippedMetadataOf(meta: Metadata): StrippedMetadata[] {
  const found: StrippedMetadata[] = [];
  if (meta.exif !== undefined) found.push('exif');
  if (meta.xmp !== undefined) found.push('xmp');
  if (meta.iptc !== undefined) found.push('iptc');
  if (meta.icc !== undefined) found.push('icc');
  if (meta.comments !== undefined && meta.comments.length > 0) found.push('comments');
  if (meta.tifftagPhotoshop !== undefined) found.push('photoshop');
  return found;
}

function fromSharpError(err: unknown, context: Record<string, unknown>): PipelineError {
  const message = errorMessage(err);
  if (/pixel limit/i.test(message)) {
    return imageError(ErrorCodes.PIXEL_LIMIT_EXCEEDED, message, context, err);
  }
  if (/unsupported image format/i.test(message)) {
    return imageError(ErrorCodes.UNSUPPORTED_FORMAT, message, context, err);
  }
  if (/timeout/i.test(message)) {
    // Not retriable: the same bytes would time out again. Bad input, not a slow system.
    return imageError(
      ErrorCodes.IMAGE_DECODE_FAILED,
      `decode timed out: ${message}`,
      { ...context, reason: 'timeout' },
      err,
    );
  }
  return imageError(ErrorCodes.IMAGE_DECODE_FAILED, `cannot decode image: ${message}`, context, err);
}

function imageError(
  code: ErrorCode,
  message: string,
  context: Record<string, unknown>,
  cause?: unknown,
): PipelineError {
  // Bad input is never retriable; PipelineError already ignores an undefined cause.
  return new PipelineError(code, message, { context, cause });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
