/** The server adapters map an unreachable server to retriable PipelineErrors (no server needed: port 1 on loopback is closed). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openMongoCatalog } from '../../../runtime/catalog/mongo-catalog.ts';
import { S3ObjectStore, parseS3Endpoint } from '../../../runtime/lake/s3-object-store.ts';
import { ErrorCodes } from '../../../schemas/errors.ts';
import { rejectsWithCode, throwsWithCode } from './lake-fixtures.ts';

describe('server adapters without a server', () => {
  it('s3: retries, then fails with retriable STORAGE_UNAVAILABLE', async () => {
    const store = new S3ObjectStore({
      endpoint: 'http://127.0.0.1:1',
      accessKey: 'a',
      secretKey: 'b',
      bucket: 'cf-none',
      retry: { attempts: 3, baseDelayMs: 1 },
    });
    try {
      const err = await rejectsWithCode(
        store.put('bronze/ab/x.bin', Buffer.from('x')),
        ErrorCodes.STORAGE_UNAVAILABLE,
      );
      assert.equal(err.retriable, true);
      assert.equal(err.context['attempts'], 3);
    } finally {
      await store.close();
    }
  });

  it('s3: validates its options up front', async () => {
    const base = { endpoint: 'http://127.0.0.1:9000', accessKey: 'a', secretKey: 'b', bucket: 'ok-bucket' };
    await throwsWithCode(
      () => new S3ObjectStore({ ...base, bucket: 'Bad_Bucket' }),
      ErrorCodes.CONFIG_INVALID,
    );
    await throwsWithCode(
      () => new S3ObjectStore({ ...base, endpoint: 'ftp://x' }),
      ErrorCodes.CONFIG_INVALID,
    );
    await throwsWithCode(
      () => new S3ObjectStore({ ...base, partSizeBytes: 1024 }),
      ErrorCodes.CONFIG_INVALID,
    );
    await throwsWithCode(() => new S3ObjectStore({ ...base, secretKey: '' }), ErrorCodes.CONFIG_INVALID);
    assert.deepEqual(parseS3Endpoint('https://s3.example.test'), {
      endPoint: 's3.example.test',
      port: 443,
      useSSL: true,
    });
  });

  it('mongo: fails to open with retriable CATALOG_UNAVAILABLE', async () => {
    const err = await rejectsWithCode(
      openMongoCatalog({ url: 'mongodb://127.0.0.1:1/x', connectTimeoutMs: 300, retry: { attempts: 1 } }),
      ErrorCodes.CATALOG_UNAVAILABLE,
    );
    assert.equal(err.retriable, true);
    await rejectsWithCode(openMongoCatalog({ url: 'http://nope' }), ErrorCodes.CONFIG_INVALID);
  });
});
