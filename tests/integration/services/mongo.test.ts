/**
 * The `mongodb` driver against the local MongoDB-wire server (`CF_MONGO_URL`, FerretDB):
 * insert/find, a unique index that rejects duplicates, and an aggregation ($match/$group).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MongoClient, MongoServerError } from 'mongodb';
import type { Db } from 'mongodb';
import { mustEnv, skipUnless, uniqueName } from './service-env.ts';

const skip = skipUnless('CF_MONGO_URL');

interface ImageDoc {
  _id: string;
  split: 'train' | 'val';
  width: number;
  captions: string[];
}

describe('mongo (mongodb driver against the local server)', { skip, timeout: 60_000 }, () => {
  let client: MongoClient;
  let db: Db;

  before(async () => {
    client = new MongoClient(mustEnv('CF_MONGO_URL'), { serverSelectionTimeoutMS: 5_000 });
    await client.connect();
    db = client.db(uniqueName('cf_test').replace(/-/g, '_'));
  });

  after(async () => {
    await db.dropDatabase();
    await client.close();
  });

  test('inserted documents are found by filter, with projection and sort', async () => {
    const images = db.collection<ImageDoc>(uniqueName('images'));
    await images.insertMany([
      { _id: 'a', split: 'train', width: 640, captions: ['a dog'] },
      { _id: 'b', split: 'val', width: 320, captions: ['a cat', 'a kitten'] },
      { _id: 'c', split: 'train', width: 1024, captions: [] },
    ]);
    const wide = await images
      .find({ width: { $gte: 600 } }, { projection: { _id: 1, width: 1 } })
      .sort({ width: -1 })
      .toArray();
    assert.deepEqual(wide, [
      { _id: 'c', width: 1024 },
      { _id: 'a', width: 640 },
    ]);
    assert.deepEqual(await images.findOne({ captions: 'a kitten' }, { projection: { _id: 1 } }), {
      _id: 'b',
    });
  });

  test('a unique index rejects a duplicate key with code 11000', async () => {
    const captions = db.collection(uniqueName('captions'));
    await captions.createIndex({ contentHash: 1 }, { unique: true });
    await captions.insertOne({ contentHash: 'sha256:aa', text: 'first' });
    await assert.rejects(
      captions.insertOne({ contentHash: 'sha256:aa', text: 'second' }),
      (err: unknown) => err instanceof MongoServerError && err.code === 11000,
    );
    assert.equal(await captions.countDocuments({ contentHash: 'sha256:aa' }), 1);
  });

  test('an aggregation with $match and $group counts and sums per group', async () => {
    const images = db.collection<ImageDoc>(uniqueName('images'));
    await images.insertMany([
      { _id: '1', split: 'train', width: 100, captions: ['x'] },
      { _id: '2', split: 'train', width: 200, captions: ['y'] },
      { _id: '3', split: 'val', width: 300, captions: ['z'] },
      { _id: '4', split: 'val', width: 50, captions: [] },
    ]);
    // One accumulator per $group: FerretDB 1.24 computes only the first of several $sum
    // accumulators in one $group (the others come back 0), see deploy/services/mongo.ts.
    const counts = await images
      .aggregate<{ _id: string; n: number }>([
        { $match: { width: { $gte: 100 } } },
        { $group: { _id: '$split', n: { $sum: 1 } } },
        { $sort: { _id: 1 } },
      ])
      .toArray();
    assert.deepEqual(counts, [
      { _id: 'train', n: 2 },
      { _id: 'val', n: 1 },
    ]);
    const widths = await images
      .aggregate<{ _id: string; totalWidth: number }>([
        { $match: { width: { $gte: 100 } } },
        { $group: { _id: '$split', totalWidth: { $sum: '$width' } } },
        { $sort: { _id: 1 } },
      ])
      .toArray();
    assert.deepEqual(widths, [
      { _id: 'train', totalWidth: 300 },
      { _id: 'val', totalWidth: 300 },
    ]);
  });
});
