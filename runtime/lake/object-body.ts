/**
 * Helpers that both object-store adapters share: put metadata validation, hashing of bodies and
 * spooling of streams. Kept apart from the port so the port file stays a pure interface.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { isSha256Hex } from './object-keys.ts';
import type { PutMeta } from './object-store.ts';

/** Put metadata after validation, with defaults filled in. */
export interface NormalizedPutMeta {
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  readonly sha256: string | undefined;
}

const META_KEY = /^[a-z0-9-]{1,64}$/;
// Printable ASCII: S3 carries user metadata in HTTP headers.
const META_VALUE = /^[\x20-\x7e]{0,1024}$/;
const CONTENT_TYPE = /^[\x21-\x7e]+(?:\s*;[\x20-\x7e]*)?$/;
// Reserved: `sha256` is the lake's own entry; the others are headers S3 clients return mixed
// with user metadata (minio strips the `x-amz-meta-` prefix), so a user key of that name could
// not be read back unambiguously.
const RESERVED_META_KEYS = new Set([
  'sha256',
  'content-type',
  'cache-control',
  'content-encoding',
  'content-disposition',
  'content-language',
  'if-match',
  'if-none-match',
]);

function metaError(key: string, reason: string): PipelineError {
  return new PipelineError(
    ErrorCodes.OBJECT_METADATA_INVALID,
    `invalid object metadata ${JSON.stringify(key)}: ${reason}`,
    {
      context: { metadataKey: key, reason },
    },
  );
}

/** Validate put metadata; throws OBJECT_METADATA_INVALID naming the offending entry. */
export function normalizePutMeta(meta: PutMeta | undefined): NormalizedPutMeta {
  const contentType = meta?.contentType ?? 'application/octet-stream';
  if (contentType.length > 255 || !CONTENT_TYPE.test(contentType))
    throw metaError('contentType', 'not a MIME type');
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta?.metadata ?? {})) {
    if (!META_KEY.test(key)) throw metaError(key, 'keys are [a-z0-9-], 1 to 64 characters');
    if (RESERVED_META_KEYS.has(key) || key.startsWith('x-amz-')) throw metaError(key, 'reserved key');
    if (typeof value !== 'string' || !META_VALUE.test(value))
      throw metaError(key, 'values are printable ASCII, at most 1024 characters');
    metadata[key] = value;
  }
  const sha256 = meta?.sha256;
  if (sha256 !== undefined && !isSha256Hex(sha256)) throw metaError('sha256', 'not a lowercase hex sha256');
  return { contentType, metadata, sha256 };
}

/** Lowercase hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The error a put raises when the body is not the bytes the caller announced. */
export function checksumMismatch(key: string, expected: string, actual: string): PipelineError {
  return new PipelineError(
    ErrorCodes.OBJECT_CHECKSUM_MISMATCH,
    `body of ${key} has sha256 ${actual}, expected ${expected}`,
    {
      context: { key, expected, actual },
    },
  );
}

/** A pass-through stream that counts and hashes what flows through it. */
export class HashingCounter extends Transform {
  private readonly hash = createHash('sha256');
  /** Bytes seen so far. */
  size = 0;
  private digestHex: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.digestHex = this.hash.digest('hex');
    callback();
  }

  /** The digest, once the stream has ended. */
  get sha256(): string {
    if (this.digestHex === undefined)
      throw new PipelineError(ErrorCodes.INTERNAL, 'digest read before the stream ended');
    return this.digestHex;
  }
}

/** A stream spooled to a temporary file, with its size and digest. */
export interface SpooledBody {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** Remove the temporary file. */
  dispose(): Promise<void>;
}

/**
 * Copy `body` to a fresh file in `dir`, hashing on the way. Used where the digest must be known
 * before the first byte is sent (S3 metadata travels in the request headers) and to make a
 * stream-bodied put retriable.
 */
export async function spoolToFile(body: Readable, dir: string): Promise<SpooledBody> {
  const path = join(dir, `captionflow-spool-${process.pid}-${randomBytes(8).toString('hex')}`);
  const counter = new HashingCounter();
  try {
    await pipeline(body, counter, createWriteStream(path, { flags: 'wx' }));
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
  return { path, size: counter.size, sha256: counter.sha256, dispose: () => rm(path, { force: true }) };
}

/** Read a whole stream into one buffer. */
export async function readAll(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
