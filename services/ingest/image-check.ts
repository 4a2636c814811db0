import { checkImageBytes } from '../../processors/image/check-image-bytes.ts';
import type { ImageFormat } from '../../processors/image/sniff-format.ts';
import type { BufferedFile } from './multipart-reader.ts';

/**
 * The checks `ingestImage` makes before it writes ({@link checkImageBytes}), made on every file
 * of a request first, so that one bad file refuses the whole request with nothing written.
 * Errors name the file: IMAGE_EMPTY (400), UNSUPPORTED_FORMAT (415). Sizes were bounded while
 * the request was read (multipart-reader.ts), so no byte limit is checked again here.
 */
export function checkImage(file: BufferedFile): ImageFormat {
  return checkImageBytes(file.bytes, {
    subject: `file ${JSON.stringify(file.filename ?? `#${file.index}`)}`,
    context: { field: file.field, filename: file.filename, index: file.index },
  }).format;
}
