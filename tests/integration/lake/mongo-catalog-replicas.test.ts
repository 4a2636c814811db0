/**
 * The MongoDB catalog as replicas open it: several processes on one database, each making the
 * same collections and indexes at start (the first creates them, the others find them), then
 * reading and writing the same records. FerretDB 1.24 on PostgreSQL once dropped the connection
 * of every replica after the first (a `createIndexes` of indexes that already existed), which
 * left a consumer group with one member; this keeps that from coming back on any server.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dropMongoCatalogDatabase, openMongoCatalog } from '../../../runtime/catalog/mongo-catalog.ts';
import { mustEnv, skipUnless, uniqueName } from '../services/service-env.ts';
import { deferrer } from '../../fixtures/defer.ts';

const skip = skipUnless('CF_MONGO_URL');

test('three replicas open one MongoDB catalog, at once and again, and see each other\'s writes', { skip, timeout: 120_000 }, async (t) => {
  const defer = deferrer(t);
  const url = mustEnv('CF_MONGO_URL');
  const dbName = uniqueName('cf_replicas').replace(/-/g, '_');
  defer(() => dropMongoCatalogDatabase(url, dbName));

  const first = await openMongoCatalog({ url, dbName });
  defer(() => first.close());
  // Two more at once, on collections and indexes that now exist.
  const others = await Promise.all([openMongoCatalog({ url, dbName }), openMongoCatalog({ url, dbName })]);
  for (const c of others) defer(() => c.close());

  const member = {
    imageId: 'a'.repeat(64),
    pHash: '0123456789abcdef',
    ingestedAt: '2026-01-01T00:00:00.000Z',
    silverKey: 'silver/aa/a.webp',
    facts: {},
  };
  const registered = await first.nearDuplicates.register(member, 6);
  // A replay on another replica writes nothing new and finds the same member through its bands.
  assert.deepEqual(await others[0].nearDuplicates.register({ ...member, ingestedAt: '2026-01-02T00:00:00.000Z' }, 6), registered);
  const found = await others[1].nearDuplicates.within(member.pHash, 6);
  assert.deepEqual(found.map((c) => [c.imageId, c.distance]), [[member.imageId, 0]]);
});
