/** Behaviours of the filesystem adapter beyond the shared contract: its file format and crash debris. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FsObjectStore, openFsObjectStore } from '../../../runtime/lake/fs-object-store.ts';
import { contentKey } from '../../../runtime/lake/object-store.ts';
import { ErrorCodes } from '../../../schemas/errors.ts';
import { listKeys, rejectsWithCode, sha, throwsWithCode } from './lake-fixtures.ts';

describe('fs object store', () => {
  let dir: string;
  let store: FsObjectStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cf-fs-'));
    store = await openFsObjectStore({ root: dir });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the bytes at the start of the file and the metadata in a trailer after them', async () => {
    const bytes = randomBytes(2000);
    const key = contentKey('bronze', sha(bytes), 'jpg');
    await store.put(key, bytes, { contentType: 'image/jpeg', metadata: { origin: 'test' } });
    const file = await readFile(join(dir, ...key.split('/')));
    assert.deepEqual(file.subarray(0, 2000), bytes);
    assert.equal(file.subarray(file.length - 8).toString('ascii'), 'CFLAKE1\n');
    const trailer = JSON.parse(file.subarray(2000, file.length - 12).toString('utf8')) as Record<
      string,
      unknown
    >;
    assert.deepEqual(trailer, {
      v: 1,
      size: 2000,
      sha256: sha(bytes),
      contentType: 'image/jpeg',
      metadata: { origin: 'test' },
    });
  });

  it('never shows a half-written temporary file, and sweeps old ones', async () => {
    await store.put('gold/ab/real.bin', Buffer.from('real'));
    // What a writer killed mid-put leaves behind.
    const debris = join(dir, 'gold', 'ab', '.real.bin.0123456789abcdef.tmp');
    const fresh = join(dir, 'gold', 'ab', '.other.bin.fedcba9876543210.tmp');
    await writeFile(debris, randomBytes(100));
    await writeFile(fresh, randomBytes(100));
    const old = new Date(Date.now() - 3_600_000);
    await utimes(debris, old, old);
    assert.deepEqual(await listKeys(store, ''), ['gold/ab/real.bin']);
    assert.equal(Buffer.from(await store.get('gold/ab/real.bin')).toString(), 'real');
    assert.equal(await store.sweepIncomplete(new Date(Date.now() - 60_000)), 1);
    assert.deepEqual((await readdir(join(dir, 'gold', 'ab'))).sort(), [
      '.other.bin.fedcba9876543210.tmp',
      'real.bin',
    ]);
  });

  it('leaves no temporary file behind after a refused put', async () => {
    await rejectsWithCode(
      store.put('gold/x/y.bin', randomBytes(10), { sha256: 'a'.repeat(64) }),
      ErrorCodes.OBJECT_CHECKSUM_MISMATCH,
    );
    await store.put('gold/x/keep.bin', Buffer.from('k'));
    const { Readable } = await import('node:stream');
    await rejectsWithCode(
      store.put('gold/x/z.bin', Readable.from([randomBytes(10)]), { sha256: 'a'.repeat(64) }),
      ErrorCodes.OBJECT_CHECKSUM_MISMATCH,
    );
    assert.deepEqual(await readdir(join(dir, 'gold', 'x')), ['keep.bin']);
  });

  it('refreshes the modification time on an idempotent put, so a repair grace period covers the record that follows', async () => {
    const bytes = randomBytes(64);
    const key = contentKey('bronze', sha(bytes));
    await store.put(key, bytes);
    const path = join(dir, ...key.split('/'));
    const old = new Date(Date.now() - 86_400_000);
    await utimes(path, old, old);
    assert.equal((await store.put(key, bytes)).written, false);
    assert.ok((await stat(path)).mtime.getTime() > Date.now() - 60_000);
  });

  it('refuses a key that is also a prefix of other keys (a path cannot be file and directory)', async () => {
    await store.put('gold/a/b', Buffer.from('1'));
    await throwsWithCode(() => store.put('gold/a', Buffer.from('2')), ErrorCodes.OBJECT_KEY_INVALID);
    await store.put('gold/c', Buffer.from('3'));
    await throwsWithCode(() => store.put('gold/c/d', Buffer.from('4')), ErrorCodes.OBJECT_KEY_INVALID);
    assert.equal(await store.head('gold/a'), null);
    await store.delete('gold/a');
  });

  it('does not serve a file that is not in the lake format', async () => {
    await store.put('gold/f/ok.bin', Buffer.from('ok'));
    await writeFile(join(dir, 'gold', 'f', 'foreign.bin'), Buffer.from('copied in by hand'));
    await rejectsWithCode(store.get('gold/f/foreign.bin'), ErrorCodes.STORAGE_UNAVAILABLE);
    await rejectsWithCode(store.head('gold/f/foreign.bin'), ErrorCodes.STORAGE_UNAVAILABLE);
    assert.deepEqual(await listKeys(store, 'gold/'), ['gold/f/ok.bin']);
  });

  it('validates its root', async () => {
    await throwsWithCode(() => new FsObjectStore({ root: '' }), ErrorCodes.CONFIG_INVALID);
  });
});
