/**
 * The ObjectStore port: the lake's bytes, whatever holds them (a directory or an S3 bucket).
 *
 * No client type crosses this interface: bodies are `Uint8Array` or Node `Readable`, answers are
 * plain data, failures are {@link PipelineError}s (OBJECT_NOT_FOUND, OBJECT_KEY_INVALID,
 * OBJECT_CHECKSUM_MISMATCH, OBJECT_METADATA_INVALID, STORAGE_UNAVAILABLE).
 *
 * Guarantees every adapter keeps (the contract suite in tests/unit/lake checks them):
 * - a `put` is all-or-nothing: a reader sees the old object, the new one or none, never part
 *   of one, even if the writer is killed mid-write;
 * - a visible object always has its metadata, and its `sha256` is the digest of its bytes;
 * - `put` of bytes already stored under the key (same sha256) does not rewrite them;
 * - `list` yields keys in ascending byte order.
 */
import type { Readable } from 'node:stream';
import type { LakeLayer } from './object-keys.ts';

export type { LakeLayer } from './object-keys.ts';
export {
  LAKE_LAYERS,
  assertSafeKey,
  assertSafePrefix,
  contentKey,
  isLakeLayer,
  isSha256Hex,
  layerOf,
} from './object-keys.ts';

/** What a writer says about an object besides its bytes. */
export interface PutMeta {
  /** MIME type, e.g. `image/jpeg`; `application/octet-stream` when absent. */
  readonly contentType?: string;
  /** User metadata: keys `[a-z0-9-]`, 1–64 chars (S3 lowercases them); values printable ASCII, ≤ 1024 chars. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** The expected lowercase hex SHA-256 of the body; the put fails with OBJECT_CHECKSUM_MISMATCH if the bytes differ. */
  readonly sha256?: string;
}

/** The outcome of a put. */
export interface PutResult {
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
  /** The store's version of the object (S3 with versioning on); null elsewhere. */
  readonly versionId: string | null;
  /** False when the same bytes were already stored under the key and nothing was written. */
  readonly written: boolean;
}

/** What `head` tells about a stored object. */
export interface ObjectHead {
  readonly key: string;
  readonly size: number;
  /** Absent only for objects written behind the lake's back (e.g. by hand into a bucket). */
  readonly sha256?: string;
  readonly contentType?: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly lastModified: Date;
  readonly versionId: string | null;
}

/** One entry of a listing. */
export interface ObjectListEntry {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

/** Options of {@link ObjectStore.list}. */
export interface ListOptions {
  /**
   * True: every key starting with the prefix. False (default): only keys with no `/` after the
   * prefix, i.e. the objects directly "in" the prefix (sub-prefixes are not yielded).
   */
  readonly recursive?: boolean;
}

/** The lake's object store. */
export interface ObjectStore {
  /** `fs` or `s3`: for logs and lineage. */
  readonly kind: 'fs' | 's3';
  /** Where objects live: the bucket name (s3) or the root directory (fs). Recorded in lineage as `bucket`. */
  readonly location: string;
  /** Store `body` under `key`, atomically. Idempotent for identical bytes. */
  put(key: string, body: Uint8Array | Readable, meta?: PutMeta): Promise<PutResult>;
  /** The bytes of `key`; OBJECT_NOT_FOUND when absent. */
  get(key: string): Promise<Uint8Array>;
  /** The bytes of `key` as a stream; OBJECT_NOT_FOUND (rejected, before any byte) when absent. */
  getStream(key: string): Promise<Readable>;
  /** Size and metadata of `key`, or null when absent. */
  head(key: string): Promise<ObjectHead | null>;
  /** True when `key` is stored. */
  exists(key: string): Promise<boolean>;
  /** The objects under `prefix` (`''` for all, `bronze/`, `bronze/ab`), in ascending key order. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectListEntry>;
  /** Remove `key`; removing an absent key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * A URL that lets a client GET the object for `ttlSeconds` without credentials; null when the
   * adapter has no such thing. The fs adapter returns null (a `file://` URL would hand out a path
   * on the server and bypass the lake's format): callers stream through {@link getStream} instead.
   */
  presignGet(key: string, ttlSeconds: number): Promise<string | null>;
  /**
   * Remove the debris of writes that never finished (temporary files, incomplete multipart
   * uploads) older than `olderThan`. Returns how many were removed. Never touches visible objects.
   */
  sweepIncomplete(olderThan: Date): Promise<number>;
  /** Release connections and handles. */
  close(): Promise<void>;
}

/** The reference to a stored object that catalog records and lineage carry. */
export interface ObjectRef {
  readonly layer: LakeLayer;
  /** {@link ObjectStore.location} of the store that holds it. */
  readonly bucket: string;
  readonly key: string;
  readonly sha256: string;
  readonly size: number;
  readonly versionId: string | null;
}
