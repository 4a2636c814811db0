/**
 * The filesystem adapter of the ObjectStore port: one file per object under a root directory,
 * the key being the relative path.
 *
 * File format: the object's bytes, then a trailer that carries its metadata:
 * `[bytes][trailer JSON][u32 BE length of the JSON][8-byte magic "CFLAKE1\n"]`.
 * Keeping bytes and metadata in one file is what makes a put atomic with a single rename: a
 * sidecar would have to be renamed separately, and a kill between the two renames would show new
 * metadata next to old bytes. The bytes come first so that a stream can be written while it is
 * hashed (the digest is only known at the end) and so the file still opens as an image in most
 * viewers.
 *
 * A put writes a temporary file in the destination directory (`.<name>.<random>.tmp`: keys
 * cannot contain dot-segments, so it can never be listed or read as an object), fsyncs it,
 * renames it over the key and fsyncs the directory. A SIGKILL at any point leaves either the old
 * object or the new one visible, plus at most a temporary file that {@link sweepIncomplete}
 * removes.
 *
 * Limitation: a key cannot be both an object and a prefix of other keys (`gold/a` and
 * `gold/a/b`), as a path cannot be both a file and a directory; such a put fails with
 * OBJECT_KEY_INVALID. The lake's own keys never do this.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type Dirent } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import {
  HashingCounter,
  checksumMismatch,
  normalizePutMeta,
  sha256Hex,
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

/** Options of {@link FsObjectStore}. */
export interface FsObjectStoreOptions {
  /** The root directory; created if missing. */
  readonly root: string;
  /**
   * fsync files and directories on every put/delete (default true). Only a power loss needs it:
   * a killed process loses nothing either way, since the data is already in the page cache.
   */
  readonly durable?: boolean;
}

const MAGIC = Buffer.from('CFLAKE1\n', 'ascii');
const FOOTER_BYTES = 4 + MAGIC.length;
// One read from the end of the file usually brings the whole trailer.
const TAIL_READ_BYTES = 4096;

interface Trailer {
  readonly v: 1;
  readonly size: number;
  readonly sha256: string;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
}

interface FileErrorLike {
  readonly code?: string;
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as FileErrorLike).code : undefined;
}

function notFound(key: string): PipelineError {
  return new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `object ${key} not found`, { context: { key } });
}

function storageError(op: string, key: string, err: unknown): PipelineError {
  if (err instanceof PipelineError) return err;
  const code = errnoOf(err);
  // Out of space, too many open files and I/O errors can clear up; permissions and the like cannot.
  const retriable =
    code === 'ENOSPC' ||
    code === 'EMFILE' ||
    code === 'ENFILE' ||
    code === 'EIO' ||
    code === 'EAGAIN' ||
    code === 'EBUSY';
  return new PipelineError(
    ErrorCodes.STORAGE_UNAVAILABLE,
    `fs object store: ${op} ${key} failed: ${String((err as Error)?.message ?? err)}`,
    {
      retriable,
      context: { op, key, errno: code ?? null },
      cause: err,
    },
  );
}

function encodeTrailer(trailer: Trailer): Buffer {
  const json = Buffer.from(JSON.stringify(trailer), 'utf8');
  const footer = Buffer.alloc(FOOTER_BYTES);
  footer.writeUInt32BE(json.length, 0);
  MAGIC.copy(footer, 4);
  return Buffer.concat([json, footer]);
}

function corrupt(key: string, reason: string): PipelineError {
  return new PipelineError(
    ErrorCodes.STORAGE_UNAVAILABLE,
    `fs object store: ${key} is not a lake object (${reason})`,
    {
      context: { key, reason },
    },
  );
}

/** Parse the trailer out of the last bytes of a file of `fileSize` bytes. */
function decodeTrailer(key: string, tail: Buffer, fileSize: number): Trailer | number {
  if (tail.length < FOOTER_BYTES) throw corrupt(key, 'too short');
  const magic = tail.subarray(tail.length - MAGIC.length);
  if (!magic.equals(MAGIC)) throw corrupt(key, 'bad magic');
  const jsonLength = tail.readUInt32BE(tail.length - FOOTER_BYTES);
  if (jsonLength + FOOTER_BYTES > fileSize) throw corrupt(key, 'trailer longer than file');
  // Tell the caller how many bytes to read when the trailer did not fit in the tail read.
  if (jsonLength + FOOTER_BYTES > tail.length) return jsonLength + FOOTER_BYTES;
  const json = tail.subarray(tail.length - FOOTER_BYTES - jsonLength, tail.length - FOOTER_BYTES);
  const trailer = JSON.parse(json.toString('utf8')) as Trailer;
  if (trailer.v !== 1 || trailer.size + jsonLength + FOOTER_BYTES !== fileSize)
    throw corrupt(key, 'size does not match');
  return trailer;
}

async function readTrailer(key: string, handle: FileHandle): Promise<{ trailer: Trailer; mtime: Date }> {
  const st = await handle.stat();
  let want = Math.min(st.size, TAIL_READ_BYTES);
  for (;;) {
    const tail = Buffer.alloc(want);
    await handle.read(tail, 0, want, st.size - want);
    const out = decodeTrailer(key, tail, st.size);
    if (typeof out !== 'number') return { trailer: out, mtime: st.mtime };
    want = out;
  }
}

function sameMeta(trailer: Trailer, size: number, sha256: string, meta: NormalizedPutMeta): boolean {
  if (trailer.size !== size || trailer.sha256 !== sha256 || trailer.contentType !== meta.contentType)
    return false;
  const a = Object.entries(trailer.metadata).sort();
  const b = Object.entries(meta.metadata).sort();
  return a.length === b.length && a.every(([k, v], i) => b[i]?.[0] === k && b[i]?.[1] === v);
}

/** Remove a temporary file, never masking the error that made us remove it. */
async function discard(tmp: string): Promise<void> {
  await rm(tmp, { force: true }).catch(() => undefined);
}

function isTempName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

/** An ObjectStore over a local directory. */
export class FsObjectStore implements ObjectStore {
  readonly kind = 'fs' as const;
  readonly location: string;
  private readonly durable: boolean;

  constructor(options: FsObjectStoreOptions) {
    if (typeof options.root !== 'string' || options.root === '') {
      throw new PipelineError(ErrorCodes.CONFIG_INVALID, 'fs object store: root must be a non-empty path', {
        context: { key: 'root', value: options.root ?? null, expected: 'a directory path' },
      });
    }
    this.location = resolve(options.root);
    this.durable = options.durable ?? true;
  }

  private pathOf(key: string): string {
    assertSafeKey(key);
    return join(this.location, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array | Readable, meta?: PutMeta): Promise<PutResult> {
    const path = this.pathOf(key);
    const normalized = normalizePutMeta(meta);
    const dir = dirname(path);
    try {
      if (body instanceof Uint8Array) {
        const sha256 = sha256Hex(body);
        if (normalized.sha256 !== undefined && normalized.sha256 !== sha256)
          throw checksumMismatch(key, normalized.sha256, sha256);
        if (await this.unchanged(key, path, body.length, sha256, normalized))
          return { key, size: body.length, sha256, versionId: null, written: false };
        const tmp = this.tempPath(path);
        try {
          const handle = await this.openTemp(key, dir, tmp);
          try {
            await handle.writev([body, encodeTrailer(this.trailer(body.length, sha256, normalized))]);
            if (this.durable) await handle.sync();
          } finally {
            await handle.close();
          }
          await this.commit(key, tmp, path);
        } catch (err) {
          await discard(tmp);
          throw err;
        }
        return { key, size: body.length, sha256, versionId: null, written: true };
      }
      return await this.putStream(key, path, body, normalized);
    } catch (err) {
      throw storageError('put', key, err);
    }
  }

  private async putStream(
    key: string,
    path: string,
    body: Readable,
    meta: NormalizedPutMeta,
  ): Promise<PutResult> {
    const dir = dirname(path);
    if (meta.sha256 !== undefined) {
      const head = await this.head(key);
      // Same announced bytes already there: the caller's stream is not needed.
      if (head !== null && (await this.unchanged(key, path, head.size, meta.sha256, meta))) {
        body.destroy();
        return { key, size: head.size, sha256: meta.sha256, versionId: null, written: false };
      }
    }
    await this.mkdirFor(key, dir);
    const tmp = this.tempPath(path);
    try {
      const counter = new HashingCounter();
      await pipeline(body, counter, createWriteStream(tmp, { flags: 'wx' }));
      const sha256 = counter.sha256;
      if (meta.sha256 !== undefined && meta.sha256 !== sha256)
        throw checksumMismatch(key, meta.sha256, sha256);
      if (await this.unchanged(key, path, counter.size, sha256, meta)) {
        await rm(tmp, { force: true });
        return { key, size: counter.size, sha256, versionId: null, written: false };
      }
      const handle = await open(tmp, 'a');
      try {
        await handle.write(encodeTrailer(this.trailer(counter.size, sha256, meta)));
        if (this.durable) await handle.sync();
      } finally {
        await handle.close();
      }
      await this.commit(key, tmp, path);
      return { key, size: counter.size, sha256, versionId: null, written: true };
    } catch (err) {
      await discard(tmp);
      throw err;
    }
  }

  private trailer(size: number, sha256: string, meta: NormalizedPutMeta): Trailer {
    return { v: 1, size, sha256, contentType: meta.contentType, metadata: meta.metadata };
  }

  private tempPath(path: string): string {
    return join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  }

  /** True (and the file's mtime refreshed) when the same bytes and metadata are already stored. */
  private async unchanged(
    key: string,
    path: string,
    size: number,
    sha256: string,
    meta: NormalizedPutMeta,
  ): Promise<boolean> {
    const current = await this.readTrailerAt(key, path);
    if (current === null || !sameMeta(current.trailer, size, sha256, meta)) return false;
    // Refresh mtime so that a consistency repair running now sees a fresh object and its grace
    // period protects it until the catalog record that follows this put is written.
    const now = new Date();
    await utimes(path, now, now).catch(() => undefined);
    return true;
  }

  /** Create the temporary file, making its directory only when missing (saves a mkdir per put). */
  private async openTemp(key: string, dir: string, tmp: string): Promise<FileHandle> {
    try {
      return await open(tmp, 'wx');
    } catch (err) {
      if (errnoOf(err) === 'ENOTDIR') {
        throw new PipelineError(
          ErrorCodes.OBJECT_KEY_INVALID,
          `fs object store: a prefix of ${key} is itself an object`,
          { context: { key }, cause: err },
        );
      }
      if (errnoOf(err) !== 'ENOENT') throw err;
      await this.mkdirFor(key, dir);
      return open(tmp, 'wx');
    }
  }

  private async mkdirFor(key: string, dir: string): Promise<void> {
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      if (errnoOf(err) === 'EEXIST' || errnoOf(err) === 'ENOTDIR') {
        throw new PipelineError(
          ErrorCodes.OBJECT_KEY_INVALID,
          `fs object store: a prefix of ${key} is itself an object`,
          { context: { key }, cause: err },
        );
      }
      throw err;
    }
  }

  private async commit(key: string, tmp: string, path: string): Promise<void> {
    try {
      await rename(tmp, path);
    } catch (err) {
      if (errnoOf(err) === 'EISDIR' || errnoOf(err) === 'ENOTEMPTY' || errnoOf(err) === 'EEXIST') {
        throw new PipelineError(
          ErrorCodes.OBJECT_KEY_INVALID,
          `fs object store: ${key} is a prefix of other objects`,
          { context: { key }, cause: err },
        );
      }
      throw err;
    }
    if (this.durable) await this.syncDir(dirname(path));
  }

  private async syncDir(dir: string): Promise<void> {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  private async openObject(key: string, path: string): Promise<FileHandle | null> {
    try {
      const handle = await open(path, 'r');
      const st = await handle.stat();
      if (!st.isFile()) {
        await handle.close();
        return null;
      }
      return handle;
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return null;
      throw storageError('open', key, err);
    }
  }

  private async readTrailerAt(key: string, path: string): Promise<{ trailer: Trailer; mtime: Date } | null> {
    const handle = await this.openObject(key, path);
    if (handle === null) return null;
    try {
      return await readTrailer(key, handle);
    } finally {
      await handle.close();
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const path = this.pathOf(key);
    const handle = await this.openObject(key, path);
    if (handle === null) throw notFound(key);
    try {
      // One read of the whole file, trailer included: fewer syscalls than reading the trailer first.
      const file = await handle.readFile();
      const trailer = decodeTrailer(key, file, file.length);
      if (typeof trailer === 'number') throw corrupt(key, 'trailer cut short');
      return file.subarray(0, trailer.size);
    } catch (err) {
      throw storageError('get', key, err);
    } finally {
      await handle.close();
    }
  }

  async getStream(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    const handle = await this.openObject(key, path);
    if (handle === null) throw notFound(key);
    let trailer: Trailer;
    try {
      trailer = (await readTrailer(key, handle)).trailer;
    } catch (err) {
      await handle.close();
      throw storageError('get', key, err);
    }
    if (trailer.size === 0) {
      await handle.close();
      return Readable.from([]);
    }
    // The stream owns the handle from here and closes it when done.
    return handle.createReadStream({ start: 0, end: trailer.size - 1, autoClose: true });
  }

  async head(key: string): Promise<ObjectHead | null> {
    const path = this.pathOf(key);
    try {
      const found = await this.readTrailerAt(key, path);
      if (found === null) return null;
      const { trailer, mtime } = found;
      return {
        key,
        size: trailer.size,
        sha256: trailer.sha256,
        contentType: trailer.contentType,
        metadata: { ...trailer.metadata },
        lastModified: mtime,
        versionId: null,
      };
    } catch (err) {
      throw storageError('head', key, err);
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectListEntry> {
    assertSafePrefix(prefix);
    const recursive = options.recursive ?? false;
    // Start at the deepest directory the prefix names completely.
    const cut = prefix.lastIndexOf('/');
    const base = cut === -1 ? '' : prefix.slice(0, cut + 1);
    yield* this.walk(base, prefix, recursive);
  }

  /** Depth-first walk of the directory of key-prefix `dirKey` (`''` or ending in `/`). */
  private async *walk(dirKey: string, prefix: string, recursive: boolean): AsyncGenerator<ObjectListEntry> {
    const dirPath = dirKey === '' ? this.location : join(this.location, ...dirKey.slice(0, -1).split('/'));
    let entries: Dirent[];
    try {
      entries = await readdir(dirPath, { withFileTypes: true });
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw storageError('list', dirKey, err);
    }
    // Sorting directories as `name/` yields keys in the same byte order as S3 lists them.
    const items = entries
      .filter((e) => !e.name.startsWith('.') && (e.isFile() || e.isDirectory()))
      .map((e) => ({ entry: e, sortKey: e.isDirectory() ? `${dirKey}${e.name}/` : `${dirKey}${e.name}` }))
      .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    for (const { entry, sortKey } of items) {
      if (entry.isDirectory()) {
        const isAncestorOfPrefix = prefix.startsWith(sortKey);
        const isInsidePrefix = sortKey.startsWith(prefix);
        if (isAncestorOfPrefix || (recursive && isInsidePrefix)) yield* this.walk(sortKey, prefix, recursive);
        continue;
      }
      if (!sortKey.startsWith(prefix)) continue;
      if (!recursive && sortKey.slice(prefix.length).includes('/')) continue;
      let found;
      try {
        found = await this.readTrailerAt(sortKey, join(dirPath, entry.name));
      } catch (err) {
        // A file that is not in the lake format (copied in by hand, damaged) is not an object;
        // listing goes on, and get/head on it report the damage.
        if (err instanceof PipelineError && !err.retriable) continue;
        throw storageError('list', sortKey, err);
      }
      // Deleted between readdir and open: it is simply not there any more.
      if (found === null) continue;
      yield { key: sortKey, size: found.trailer.size, lastModified: found.mtime };
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
      if (this.durable) await this.syncDir(dirname(path));
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      if (code === 'EISDIR' || code === 'EPERM') {
        // A directory is a prefix, not an object: nothing to delete.
        const st = await stat(path).catch(() => null);
        if (st?.isDirectory() === true) return;
      }
      throw storageError('delete', key, err);
    }
  }

  presignGet(key: string, _ttlSeconds: number): Promise<string | null> {
    assertSafeKey(key);
    return Promise.resolve(null);
  }

  async sweepIncomplete(olderThan: Date): Promise<number> {
    let removed = 0;
    const visit = async (dir: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return;
        throw storageError('sweep', dir, err);
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory() && !entry.name.startsWith('.')) {
          await visit(path);
        } else if (entry.isFile() && isTempName(entry.name)) {
          const st = await stat(path).catch(() => null);
          if (st !== null && st.mtime < olderThan) {
            await rm(path, { force: true });
            removed += 1;
          }
        }
      }
    };
    await visit(this.location);
    return removed;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Open a filesystem object store rooted at `root` (created if missing). */
export async function openFsObjectStore(options: FsObjectStoreOptions): Promise<FsObjectStore> {
  const store = new FsObjectStore(options);
  try {
    await mkdir(store.location, { recursive: true });
  } catch (err) {
    throw storageError('open', store.location + sep, err);
  }
  return store;
}
