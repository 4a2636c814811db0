/**
 * Object keys of the medallion lake: `<layer>/<segment>/...`.
 *
 * Keys are validated in one place so that every adapter refuses the same keys: a key that the
 * filesystem adapter accepts must also be a valid S3 key and vice versa, or a lake could not move
 * between deployments.
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';

/** The layers of the lake; the first segment of every key. */
export const LAKE_LAYERS = ['bronze', 'silver', 'gold', 'models', 'manifests'] as const;

/** A layer of the lake. */
export type LakeLayer = (typeof LAKE_LAYERS)[number];

/** Longest key accepted, in UTF-8 bytes (S3's limit). */
export const MAX_KEY_BYTES = 1024;

/** Longest segment accepted, in bytes (the usual filesystem NAME_MAX, minus room for temp suffixes). */
export const MAX_SEGMENT_BYTES = 200;

// A conservative character set: S3's "safe characters" without the ones that need URL escaping
// or that filesystems treat specially. It rules out NUL, control characters, backslashes, colons
// and spaces in one go.
const SEGMENT_PATTERN = /^[A-Za-z0-9!_.*'()=+,@-]+$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;
const EXT_PATTERN = /^[a-z0-9]{1,10}$/;

/** True when `value` names a layer of the lake. */
export function isLakeLayer(value: string): value is LakeLayer {
  return (LAKE_LAYERS as readonly string[]).includes(value);
}

function invalid(key: unknown, reason: string): PipelineError {
  return new PipelineError(
    ErrorCodes.OBJECT_KEY_INVALID,
    `invalid object key ${JSON.stringify(key)}: ${reason}`,
    {
      context: { key: typeof key === 'string' ? key.slice(0, 200) : String(key), reason },
    },
  );
}

/**
 * Throw OBJECT_KEY_INVALID unless `key` is a safe lake key: a known layer first, then non-empty
 * segments of safe characters, none starting with a dot (that rules out `.` and `..` and keeps
 * dot-names free for the filesystem adapter's temporary files), no absolute path, no backslash,
 * no NUL or control character, at most {@link MAX_KEY_BYTES} bytes.
 */
export function assertSafeKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw invalid(key, 'empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES)
    throw invalid(key, `longer than ${MAX_KEY_BYTES} bytes`);
  if (key.startsWith('/')) throw invalid(key, 'absolute path');
  if (key.includes('\\')) throw invalid(key, 'backslash');
  if (key.includes('\0')) throw invalid(key, 'NUL byte');
  const segments = key.split('/');
  const layer = segments[0] ?? '';
  if (!isLakeLayer(layer)) throw invalid(key, `first segment must be one of ${LAKE_LAYERS.join('|')}`);
  if (segments.length < 2) throw invalid(key, 'no name after the layer');
  for (const segment of segments) {
    if (segment.length === 0) throw invalid(key, 'empty segment');
    if (segment === '.' || segment === '..') throw invalid(key, 'path traversal');
    if (segment.startsWith('.')) throw invalid(key, 'segment starts with a dot');
    if (segment.length > MAX_SEGMENT_BYTES)
      throw invalid(key, `segment longer than ${MAX_SEGMENT_BYTES} bytes`);
    if (!SEGMENT_PATTERN.test(segment)) throw invalid(key, "character outside [A-Za-z0-9!_.*'()=+,@-]");
  }
}

/**
 * Throw OBJECT_KEY_INVALID unless `prefix` is a safe listing prefix: empty (everything), or a
 * string that could start a safe key (`bronze/`, `bronze/ab`, `gold/tables/`).
 */
export function assertSafePrefix(prefix: string): void {
  if (prefix === '') return;
  // A prefix ending in '/' or in the middle of a segment is a key prefix; validate it by
  // completing it to a key.
  const probe = prefix.endsWith('/') ? `${prefix}x` : prefix;
  const slash = probe.indexOf('/');
  if (slash === -1) {
    // Only part of the layer name: allowed when it is the start of one.
    if (!LAKE_LAYERS.some((layer) => layer.startsWith(probe)))
      throw invalid(prefix, 'not the start of a layer');
    return;
  }
  assertSafeKey(probe);
}

/** True when `value` is a lowercase hex SHA-256 digest. */
export function isSha256Hex(value: string): boolean {
  return SHA256_PATTERN.test(value);
}

/**
 * The content-addressed key of bytes with digest `sha256` in `layer`:
 * `bronze/ab/abcdef….jpg`. The two-character fan-out keeps directories small on the filesystem
 * adapter and spreads S3 prefixes. `ext` is optional (lowercase alphanumeric, 1–10 characters).
 */
export function contentKey(layer: LakeLayer, sha256: string, ext?: string): string {
  if (!isLakeLayer(layer)) throw invalid(`${String(layer)}/…`, 'unknown layer');
  if (!isSha256Hex(sha256)) throw invalid(`${layer}/${sha256}`, 'not a lowercase hex sha256');
  const suffix = ext === undefined || ext === '' ? '' : `.${ext.replace(/^\./, '')}`;
  if (suffix !== '' && !EXT_PATTERN.test(suffix.slice(1)))
    throw invalid(`${layer}/${sha256}${suffix}`, 'bad extension');
  return `${layer}/${sha256.slice(0, 2)}/${sha256}${suffix}`;
}

/** The layer of a (valid) key. */
export function layerOf(key: string): LakeLayer {
  assertSafeKey(key);
  return key.slice(0, key.indexOf('/')) as LakeLayer;
}
