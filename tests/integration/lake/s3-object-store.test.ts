/**
 * S3-only behaviours on a real server: multipart upload of a large stream, and debris of an
 * interrupted multipart upload swept without touching visible objects. Skips without CF_S3_* env.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Client } from 'minio';
import { readAll } from '../../../runtime/lake/object-body.ts';
import { parseS3Endpoint, S3ObjectStore } from '../../../runtime/lake/s3-object-store.ts';
import { sha } from '../../unit/lake/lake-fixtures.ts';

const env = (name: string): string => process.env[name] ?? '';
const missing = ['CF_S3_ENDPOINT', 'CF_S3_ACCESS_KEY', 'CF_S3_SECRET_KEY'].filter((n) => env(n) === '');

describe(
  's3 object store on a real server',
  { skip: missing.length === 0 ? false : `set ${missing.join(', ')}` },
  () => {
    let store: S3ObjectStore;
    const bucket = `cf-test-${randomBytes(6).toString('hex')}`;
    before(() => {
      store = new S3ObjectStore({
        endpoint: env('CF_S3_ENDPOINT'),
        accessKey: env('CF_S3_ACCESS_KEY'),
        secretKey: env('CF_S3_SECRET_KEY'),
        bucket,
        partSizeBytes: 5 * 1024 * 1024,
      });
    });
    after(async () => {
      await store.destroyBucket();
      await store.close();
    });

    it('uploads a stream larger than the part size as a multipart upload and reads it back', async () => {
      const chunks = Array.from({ length: 11 }, () => randomBytes(1024 * 1024));
      const whole = Buffer.concat(chunks);
      const put = await store.put('models/big/weights.bin', Readable.from(chunks));
      assert.deepEqual({ size: put.size, sha256: put.sha256 }, { size: whole.length, sha256: sha(whole) });
      const head = await store.head('models/big/weights.bin');
      assert.equal(head?.size, whole.length);
      assert.equal(head?.sha256, sha(whole));
      assert.equal(sha(await readAll(await store.getStream('models/big/weights.bin'))), sha(whole));
    });

    it('sweeps an interrupted multipart upload, and the object it was writing never appears', async () => {
      await store.put('gold/keep/a.bin', Buffer.from('visible'));
      const { endPoint, port, useSSL } = parseS3Endpoint(env('CF_S3_ENDPOINT'));
      const client = new Client({
        endPoint,
        port,
        useSSL,
        accessKey: env('CF_S3_ACCESS_KEY'),
        secretKey: env('CF_S3_SECRET_KEY'),
        region: env('CF_S3_REGION') || 'us-east-1',
        pathStyle: true,
      });
      // What a writer killed between parts leaves: an initiated upload that is never completed.
      await client.initiateNewMultipartUpload(bucket, 'gold/half/b.bin', {});
      assert.equal(await store.exists('gold/half/b.bin'), false);
      const swept = await store.sweepIncomplete(new Date(Date.now() + 60_000));
      assert.ok(swept >= 1, `expected the incomplete upload to be swept, got ${swept}`);
      assert.equal(await store.exists('gold/keep/a.bin'), true);
    });
  },
);
