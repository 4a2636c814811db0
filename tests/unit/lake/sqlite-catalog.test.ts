/** Behaviours of the SQLite catalog beyond the shared contract: persistence, plain-SQL readability, several connections. */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { openSqliteCatalog } from '../../../runtime/catalog/sqlite-catalog.ts';
import { ErrorCodes } from '../../../schemas/errors.ts';
import { rejectsWithCode } from './lake-fixtures.ts';

describe('sqlite catalog', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cf-sqlite-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('persists across reopen, in WAL mode, with indexed fields readable as plain columns', async () => {
    const path = join(dir, 'nested', 'catalog.sqlite');
    const first = await openSqliteCatalog({ path });
    await first.images.upsert({ id: 'a'.repeat(64), status: 'curated', split: 'train', layer: 'gold' });
    await first.close();
    const second = await openSqliteCatalog({ path });
    assert.equal((await second.images.get('a'.repeat(64)))?.split, 'train');
    await second.close();
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.deepEqual(db.prepare('SELECT id, f_status AS status, f_split AS split FROM images').all(), [
        { id: 'a'.repeat(64), status: 'curated', split: 'train' },
      ]);
      const plan = db
        .prepare("EXPLAIN QUERY PLAN SELECT id FROM images WHERE f_status = 'curated' AND f_split = 'train'")
        .all() as { detail: string }[];
      assert.match(
        plan.map((p) => p.detail).join('\n'),
        /USING (COVERING )?INDEX images_by_f_status_f_split/,
      );
    } finally {
      db.close();
    }
  });

  it('merges concurrent writes from two connections to the same file', async () => {
    const path = join(dir, 'catalog.sqlite');
    const [a, b] = await Promise.all([openSqliteCatalog({ path }), openSqliteCatalog({ path })]);
    const id = 'b'.repeat(64);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? a : b).images.upsert({ id, attributes: { [`k${i}`]: i } }),
      ),
    );
    assert.equal(Object.keys((await a.images.get(id))?.attributes ?? {}).length, 10);
    await Promise.all([a.close(), b.close()]);
  });

  it('fails with CATALOG_UNAVAILABLE after close, and CONFIG_INVALID without a path', async () => {
    const catalog = await openSqliteCatalog({ path: ':memory:' });
    await catalog.close();
    await rejectsWithCode(catalog.images.get('a'.repeat(64)), ErrorCodes.CATALOG_UNAVAILABLE);
    await rejectsWithCode(openSqliteCatalog({ path: '' }), ErrorCodes.CONFIG_INVALID);
  });
});
