/**
 * Image format detection from magic bytes, before any decoder sees the input.
 *
 * Decoders (libvips included) accept far more than we want to expose to untrusted uploads:
 * SVG can reference external resources, PDF and friends pull in large parsers. Sniffing
 * first lets only the raster formats we support reach the decoder.
 */

/** The raster formats captionflow accepts. */
export const SUPPORTED_IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif'] as const;

/** One of {@link SUPPORTED_IMAGE_FORMATS}. */
export type ImageFormat = (typeof SUPPORTED_IMAGE_FORMATS)[number];

/** What the magic bytes say: a supported format, SVG (recognised but refused) or unknown. */
export type SniffedFormat = ImageFormat | 'svg' | 'unknown';

/** MIME type of each supported format. */
export const IMAGE_MIME_TYPES: Readonly<Record<ImageFormat, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tiff: 'image/tiff',
  avif: 'image/avif',
  heif: 'image/heif',
};

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;
const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIF_BRANDS = new Set([
  'heic',
  'heix',
  'hevc',
  'hevx',
  'heim',
  'heis',
  'hevm',
  'hevs',
  'mif1',
  'msf1',
  'mif2',
]);

/** Detect the format of `bytes` from its leading magic bytes only (never decodes). */
export function sniffImageFormat(bytes: Uint8Array): SniffedFormat {
  if (startsWith(bytes, 0, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, 0, PNG_MAGIC)) return 'png';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return 'webp';
  // Classic TIFF (42) and BigTIFF (43), both byte orders.
  if (startsWith(bytes, 0, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, 0, [0x4d, 0x4d, 0x00, 0x2a]))
    return 'tiff';
  if (startsWith(bytes, 0, [0x49, 0x49, 0x2b, 0x00]) || startsWith(bytes, 0, [0x4d, 0x4d, 0x00, 0x2b]))
    return 'tiff';
  const isobmff = sniffIsoBmff(bytes);
  if (isobmff !== undefined) return isobmff;
  if (looksLikeSvg(bytes)) return 'svg';
  return 'unknown';
}

/** AVIF and HEIF are ISO-BMFF files whose `ftyp` box names a major or compatible brand. */
function sniffIsoBmff(bytes: Uint8Array): 'avif' | 'heif' | undefined {
  if (bytes.length < 16 || ascii(bytes, 4, 4) !== 'ftyp') return undefined;
  const boxSize =
    ((bytes[0] ?? 0) << 24) | ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  const end = Math.min(bytes.length, boxSize >>> 0 >= 16 ? boxSize >>> 0 : 16);
  const brands = [ascii(bytes, 8, 4)];
  for (let offset = 16; offset + 4 <= end; offset += 4) brands.push(ascii(bytes, offset, 4));
  if (brands.some((b) => AVIF_BRANDS.has(b))) return 'avif';
  if (brands.some((b) => HEIF_BRANDS.has(b))) return 'heif';
  return undefined;
}

/** SVG is text: an optional BOM, whitespace, XML prolog, comments or doctype, then `<svg`. */
function looksLikeSvg(bytes: Uint8Array): boolean {
  const head = new TextDecoder('utf-8', { fatal: false })
    .decode(bytes.subarray(0, 4096))
    .replace(/^\uFEFF/, '');
  if (!/^\s*</.test(head)) return false;
  return /<svg[\s>/]/i.test(head);
}

function startsWith(bytes: Uint8Array, offset: number, magic: readonly number[]): boolean {
  if (bytes.length < offset + magic.length) return false;
  return magic.every((b, i) => bytes[offset + i] === b);
}

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  if (bytes.length < offset + length) return '';
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}
