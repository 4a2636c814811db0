/**
 * The S3 adapter of the ObjectStore port, on the `minio` client (MinIO or any S3).
 *
 * One bucket per deployment; the layers are key prefixes. The object's SHA-256 travels as user
 * metadata (`x-amz-meta-sha256`), so it must be known before the first byte is sent: a stream
 * body is therefore spooled to a local temporary file while it is hashed, then uploaded from the
 * file with its size known (which also makes the upload retriable, and lets minio pick a sane
 * multipart part size instead of the one it uses for streams of unknown size). Bodies larger
 * than `partSizeBytes` go up as a multipart upload; S3 makes the object visible only when the
 * upload completes, so a killed writer never leaves a partial object (only an incomplete upload,
 * which {@link S3ObjectStore.sweepIncomplete} aborts).
 *
 * Transient failures (connection refused/reset, timeouts, 5xx, SlowDown) are retried with
 * backoff, then surface as retriable STORAGE_UNAVAILABLE.
 */
import { createReadStream } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { Client } from 'minio';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import {
  checksumMismatch,
  normalizePutMeta,
  readAll,
  sha256Hex,
  spoolToFile,
  type NormalizedPutMeta,
} from './object-body.ts';
import { assertSafeKey, assertSafePrefix } from './object-keys.ts';
import type {
  ListOptions,
  ObjectHead,
  ObjectListEntry,
  ObjectStore,
  PutMeta,
  PutResult,
} from './object-store.ts';
import { withRetry, type RetryOptions } from './retry.ts';

/** Options of {@link S3ObjectStore}. */
export interface S3ObjectStoreOptions {
  /** `http://host:port` or `https://host[:port]`. */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** Default `us-east-1`. Given explicitly, so presigning needs no round trip. */
  readonly region?: string;
  /** The deployment's bucket; created on first use if missing. */
  readonly bucket: string;
  /** Multipart part size, ≥ 5 MiB (default 16 MiB): bodies up to this size go up in one PUT. */
  readonly partSizeBytes?: number;
  /** Where stream bodies are spooled (default the OS temp dir). */
  readonly spoolDir?: string;
  /** Backoff of retried requests. */
  readonly retry?: RetryOptions;
}

const MIB = 1024 * 1024;
const BUCKET_PATTERN = /^(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const RETRIABLE_S3_CODES = new Set([
  'SlowDown',
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
  'OperationAborted',
  'XMinioServerNotInitialized',
  'XMinioReadQuorum',
  'XMinioWriteQuorum',
]);
const RETRIABLE_NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ESOCKETTIMEDOUT',
]);
const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound']);

function configError(key: string, value: unknown, expected: string): PipelineError {
  return new PipelineError(
    ErrorCodes.CONFIG_INVALID,
    `s3 object store: ${key}=${JSON.stringify(value)} is invalid, expected ${expected}`,
    {
      context: { key, value: key === 'secretKey' ? '***' : value, expected },
    },
  );
}

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Map a minio/network error to a PipelineError. */
function classify(op: string, key: string, err: unknown): PipelineError {
  if (err instanceof PipelineError) return err;
  const code = codeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code !== undefined && NOT_FOUND_CODES.has(code)) {
    return new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `object ${key} not found`, {
      context: { key },
      cause: err,
    });
  }
  const retriable =
    (code !== undefined && (RETRIABLE_S3_CODES.has(code) || RETRIABLE_NET_CODES.has(code))) ||
    /socket hang up/i.test(message);
  return new PipelineError(
    ErrorCodes.STORAGE_UNAVAILABLE,
    `s3 object store: ${op} ${key} failed: ${code ?? ''} ${message}`.trim(),
    {
      retriable,
      context: { op, key, s3Code: code ?? null },
      cause: err,
    },
  );
}

/** Parse an endpoint URL into minio client options. */
export function parseS3Endpoint(endpoint: string): { endPoint: string; port: number; useSSL: boolean } {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (err) {
    throw Object.assign(configError('endpoint', endpoint, 'an http(s) URL such as http://127.0.0.1:9000'), {
      cause: err,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw configError('endpoint', endpoint, 'an http: or https: URL');
  const useSSL = url.protocol === 'https:';
  const port = url.port === '' ? (useSSL ? 443 : 80) : Number(url.port);
  return { endPoint: url.hostname.replace(/^\[|\]$/g, ''), port, useSSL };
}

function s3Headers(meta: NormalizedPutMeta, sha256: string): Record<string, string> {
  const headers: Record<string, string> = { 'Content-Type': meta.contentType, 'X-Amz-Meta-Sha256': sha256 };
  for (const [k, v] of Object.entries(meta.metadata)) headers[`X-Amz-Meta-${k}`] = v;
  return headers;
}

// Keys minio's statObject returns that are not user metadata.
const NON_USER_META = new Set([
  'sha256',
  'content-type',
  'cache-control',
  'content-encoding',
  'content-disposition',
  'content-language',
  'x-amz-website-redirect-location',
  'x-amz-storage-class',
  'x-amz-acl',
]);

function sameMeta(head: ObjectHead, size: number, sha256: string, meta: NormalizedPutMeta): boolean {
  if (head.size !== size || head.sha256 !== sha256 || head.contentType !== meta.contentType) return false;
  const a = Object.entries(head.metadata).sort();
  const b = Object.entries(meta.metadata).sort();
  return a.length === b.length && a.every(([k, v], i) => b[i]?.[0] === k && b[i]?.[1] === v);
}

/** An ObjectStore over one S3 bucket. */
export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  readonly location: string;
  private readonly client: Client;
  private readonly agent: HttpAgent;
  private readonly region: string;
  private readonly spoolDir: string;
  private readonly retry: RetryOptions;
  private bucketReady: Promise<void> | undefined;

  constructor(options: S3ObjectStoreOptions) {
    if (typeof options.bucket !== 'string' || !BUCKET_PATTERN.test(options.bucket)) {
      throw configError(
        'bucket',
        options.bucket,
        '3–63 characters of [a-z0-9.-], starting and ending with a letter or digit',
      );
    }
    if (typeof options.accessKey !== 'string' || options.accessKey === '')
      throw configError('accessKey', options.accessKey, 'a non-empty string');
    if (typeof options.secretKey !== 'string' || options.secretKey === '')
      throw configError('secretKey', '***', 'a non-empty string');
    const partSize = options.partSizeBytes ?? 16 * MIB;
    if (!Number.isInteger(partSize) || partSize < 5 * MIB)
      throw configError('partSizeBytes', partSize, 'an integer ≥ 5 MiB');
    const { endPoint, port, useSSL } = parseS3Endpoint(options.endpoint);
    this.location = options.bucket;
    this.region = options.region ?? 'us-east-1';
    this.spoolDir = options.spoolDir ?? tmpdir();
    this.retry = options.retry ?? {};
    // Keep-alive sockets: one TCP handshake per connection instead of per request.
    this.agent = useSSL
      ? new HttpsAgent({ keepAlive: true, maxSockets: 64 })
      : new HttpAgent({ keepAlive: true, maxSockets: 64 });
    this.client = new Client({
      endPoint,
      port,
      useSSL,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region: this.region,
      partSize,
      pathStyle: true,
      transportAgent: this.agent,
    });
  }

  private run<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, (err) => classify(op, key, err), this.retry);
  }

  /** Create the bucket if it is missing (once per instance; retried on the next call if it failed). */
  private ensureBucket(): Promise<void> {
    this.bucketReady ??= this.run('make-bucket', this.location, async () => {
      if (await this.client.bucketExists(this.location)) return;
      try {
        await this.client.makeBucket(this.location, this.region);
      } catch (err) {
        // Another process created it between the two calls.
        const code = codeOf(err);
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
      }
    }).catch((err: unknown) => {
      this.bucketReady = undefined;
      throw err;
    });
    return this.bucketReady;
  }

  async put(key: string, body: Uint8Array | Readable, meta?: PutMeta): Promise<PutResult> {
    assertSafeKey(key);
    const normalized = normalizePutMeta(meta);
    await this.ensureBucket();
    if (body instanceof Uint8Array) {
      const sha256 = sha256Hex(body);
      if (normalized.sha256 !== undefined && normalized.sha256 !== sha256)
        throw checksumMismatch(key, normalized.sha256, sha256);
      const head = await this.head(key);
      if (head !== null && sameMeta(head, body.length, sha256, normalized))
        return { key, size: body.length, sha256, versionId: head.versionId, written: false };
      const buffer = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      const res = await this.run('put', key, () =>
        this.client.putObject(this.location, key, buffer, buffer.length, s3Headers(normalized, sha256)),
      );
      return { key, size: body.length, sha256, versionId: res.versionId ?? null, written: true };
    }
    if (normalized.sha256 !== undefined) {
      const head = await this.head(key);
      if (head !== null && sameMeta(head, head.size, normalized.sha256, normalized)) {
        body.destroy();
        return { key, size: head.size, sha256: normalized.sha256, versionId: head.versionId, written: false };
      }
    }
    let spooled;
    try {
      spooled = await spoolToFile(body, this.spoolDir);
    } catch (err) {
      throw classify('spool', key, err);
    }
    try {
      const { size, sha256, path } = spooled;
      if (normalized.sha256 !== undefined && normalized.sha256 !== sha256)
        throw checksumMismatch(key, normalized.sha256, sha256);
      const head = await this.head(key);
      if (head !== null && sameMeta(head, size, sha256, normalized))
        return { key, size, sha256, versionId: head.versionId, written: false };
      const res = await this.run('put', key, () =>
        this.client.putObject(
          this.location,
          key,
          createReadStream(path),
          size,
          s3Headers(normalized, sha256),
        ),
      );
      return { key, size, sha256, versionId: res.versionId ?? null, written: true };
    } finally {
      await spooled.dispose();
    }
  }

  async get(key: string): Promise<Uint8Array> {
    assertSafeKey(key);
    await this.ensureBucket();
    return this.run('get', key, async () => readAll(await this.client.getObject(this.location, key)));
  }

  async getStream(key: string): Promise<Readable> {
    assertSafeKey(key);
    await this.ensureBucket();
    return this.run('get', key, () => this.client.getObject(this.location, key));
  }

  async head(key: string): Promise<ObjectHead | null> {
    assertSafeKey(key);
    await this.ensureBucket();
    try {
      const stat = await this.run('head', key, () => this.client.statObject(this.location, key));
      const raw = stat.metaData as Record<string, unknown>;
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(raw)) {
        const lower = k.toLowerCase();
        if (!NON_USER_META.has(lower) && !lower.startsWith('x-amz-') && typeof v === 'string')
          metadata[lower] = v;
      }
      const sha256 = raw['sha256'];
      const contentType = raw['content-type'];
      return {
        key,
        size: stat.size,
        ...(typeof sha256 === 'string' ? { sha256 } : {}),
        ...(typeof contentType === 'string' ? { contentType } : {}),
        metadata,
        lastModified: stat.lastModified,
        versionId: stat.versionId ?? null,
      };
    } catch (err) {
      if (err instanceof PipelineError && err.code === ErrorCodes.OBJECT_NOT_FOUND) return null;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectListEntry> {
    assertSafePrefix(prefix);
    await this.ensureBucket();
    const stream = this.client.listObjectsV2(this.location, prefix, options.recursive ?? false);
    try {
      for await (const item of stream as AsyncIterable<{
        name?: string;
        prefix?: string;
        size: number;
        lastModified?: Date;
      }>) {
        // Non-recursive listings also yield common prefixes ("sub-directories"): not objects.
        if (item.name === undefined) continue;
        yield { key: item.name, size: item.size, lastModified: item.lastModified ?? new Date(0) };
      }
    } catch (err) {
      throw classify('list', prefix, err);
    } finally {
      stream.destroy();
    }
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    await this.ensureBucket();
    try {
      await this.run('delete', key, () => this.client.removeObject(this.location, key));
    } catch (err) {
      if (err instanceof PipelineError && err.code === ErrorCodes.OBJECT_NOT_FOUND) return;
      throw err;
    }
  }

  async presignGet(key: string, ttlSeconds: number): Promise<string | null> {
    assertSafeKey(key);
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 604800) {
      throw configError('ttlSeconds', ttlSeconds, 'an integer from 1 to 604800 (7 days)');
    }
    await this.ensureBucket();
    return this.run('presign', key, () => this.client.presignedGetObject(this.location, key, ttlSeconds));
  }

  async sweepIncomplete(olderThan: Date): Promise<number> {
    await this.ensureBucket();
    const stale = new Set<string>();
    const stream = this.client.listIncompleteUploads(this.location, '', true);
    try {
      for await (const upload of stream as AsyncIterable<{ key: string; initiated: Date }>) {
        if (upload.initiated < olderThan) stale.add(upload.key);
      }
    } catch (err) {
      throw classify('list-incomplete', '', err);
    } finally {
      stream.destroy();
    }
    for (const key of stale)
      await this.run('abort-upload', key, () => this.client.removeIncompleteUpload(this.location, key));
    return stale.size;
  }

  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }

  /**
   * Remove every object of the bucket and the bucket itself. For tests that create a fresh bucket
   * per test; never called by the pipeline.
   */
  async destroyBucket(): Promise<void> {
    if (!(await this.run('bucket-exists', this.location, () => this.client.bucketExists(this.location))))
      return;
    await this.sweepIncomplete(new Date(Date.now() + 60_000));
    const keys: string[] = [];
    for await (const entry of this.list('', { recursive: true })) keys.push(entry.key);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      await this.run('delete-many', this.location, () => this.client.removeObjects(this.location, batch));
    }
    await this.run('remove-bucket', this.location, () => this.client.removeBucket(this.location));
  }
}

/** Open an S3 object store (the bucket is created lazily, on first use). */
export function openS3ObjectStore(options: S3ObjectStoreOptions): S3ObjectStore {
  return new S3ObjectStore(options);
}
