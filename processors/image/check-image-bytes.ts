/**
 * The checks every door makes on untrusted image bytes before storing or decoding them: not
 * empty, not over the byte limit, a supported raster format by its magic bytes (SVG refused).
 * One function, so that an upload, a mobile capture, an import and normalize refuse the same
 * bytes with the same codes; checks that need a decode (the pixel limit) stay with the decoder.
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { IMAGE_MIME_TYPES, sniffImageFormat, type ImageFormat } from './sniff-format.ts';

/** Options of {@link checkImageBytes}. */
export interface ImageCheckOptions {
  /** Inputs larger than this many bytes are IMAGE_TOO_LARGE; no byte limit when absent. */
  readonly maxBytes?: number;
  /**
   * How messages name the input, e.g. `file "cat.png"` (default `the image`); a named input's
   * format refusal reads `file "cat.png": …` instead of `unsupported image format: …`.
   */
  readonly subject?: string;
  /** Context every error carries besides its own keys (e.g. which part of a request). */
  readonly context?: Readonly<Record<string, unknown>>;
}

/** What the magic bytes of an accepted image say. */
export interface CheckedImage {
  readonly format: ImageFormat;
  readonly mime: string;
}

/**
 * Check untrusted image bytes without decoding them.
 * @returns the sniffed format and its MIME type.
 * @throws PipelineError (not retriable) `IMAGE_EMPTY` for 0 bytes; `IMAGE_TOO_LARGE` over
 *   `maxBytes` (context `size`, `limit`); `UNSUPPORTED_FORMAT` for SVG or unrecognised bytes
 *   (context `format`: `svg` or `unknown`).
 */
export function checkImageBytes(bytes: Uint8Array, options: ImageCheckOptions = {}): CheckedImage {
  const subject = options.subject ?? 'the image';
  const context = options.context ?? {};
  const size = bytes.byteLength;
  if (size === 0) {
    throw new PipelineError(ErrorCodes.IMAGE_EMPTY, `${subject} is empty (0 bytes)`, { context: { ...context } });
  }
  if (options.maxBytes !== undefined && size > options.maxBytes) {
    throw new PipelineError(ErrorCodes.IMAGE_TOO_LARGE, `${subject} is ${size} bytes, the limit is ${options.maxBytes}`, {
      context: { ...context, size, limit: options.maxBytes },
    });
  }
  const format = sniffImageFormat(bytes);
  if (format === 'svg' || format === 'unknown') {
    const reason = format === 'svg' ? 'SVG (vector images are refused)' : 'not a recognised image format';
    throw new PipelineError(
      ErrorCodes.UNSUPPORTED_FORMAT,
      `${options.subject ?? 'unsupported image format'}: ${reason}`,
      { context: { ...context, format } },
    );
  }
  return { format, mime: IMAGE_MIME_TYPES[format] };
}
