import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { sniffImageFormat, type ImageFormat } from '../../processors/image/sniff-format.ts';
import type { BufferedFile } from './multipart-reader.ts';

/**
 * The checks `ingestImage` makes before it writes (empty, format by magic bytes), made on every
 * file of a request first, so that one bad file refuses the whole request with nothing written.
 * Errors name the file: IMAGE_EMPTY (400), UNSUPPORTED_FORMAT (415).
 */
export function checkImage(file: BufferedFile): ImageFormat {
  const context = { field: file.field, filename: file.filename, index: file.index };
  const name = JSON.stringify(file.filename ?? `#${file.index}`);
  if (file.bytes.byteLength === 0)
    throw new PipelineError(ErrorCodes.IMAGE_EMPTY, `file ${name} is empty (0 bytes)`, { context });
  const format = sniffImageFormat(file.bytes);
  if (format === 'svg' || format === 'unknown') {
    throw new PipelineError(
      ErrorCodes.UNSUPPORTED_FORMAT,
      `file ${name}: ${format === 'svg' ? 'SVG (vector images are refused)' : 'not a recognised image format'}`,
      {
        context: { ...context, format },
      },
    );
  }
  return format;
}
