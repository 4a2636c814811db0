/**
 * The `minio` client against the local S3 server (`CF_S3_*`): put, get, list with a prefix,
 * and a presigned GET fetched with plain `fetch` (no credentials).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from 'minio';
import { mustEnv, skipUnless, uniqueName } from './service-env.ts';

const skip = skipUnless('CF_S3_ENDPOINT', 'CF_S3_ACCESS_KEY', 'CF_S3_SECRET_KEY', 'CF_S3_REGION');

function client(): Client {
  const url = new URL(mustEnv('CF_S3_ENDPOINT'));
  return new Client({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: url.protocol === 'https:',
    accessKey: mustEnv('CF_S3_ACCESS_KEY'),
    secretKey: mustEnv('CF_S3_SECRET_KEY'),
    region: mustEnv('CF_S3_REGION'),
    pathStyle: true,
  });
}

/** Keys under `prefix` (the client types list entries loosely). */
async function listKeys(s3: Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of s3.listObjectsV2(bucket, prefix, true) as AsyncIterable<{ name?: string }>) {
    if (o.name !== undefined) keys.push(o.name);
  }
  return keys;
}

async function streamToBuffer(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

describe('s3 (minio client against the local S3 server)', { skip, timeout: 60_000 }, () => {
  let s3: Client;
  let bucket: string;

  before(async () => {
    s3 = client();
    bucket = uniqueName('cf-test-bucket');
    await s3.makeBucket(bucket, mustEnv('CF_S3_REGION'));
  });

  after(async () => {
    const names = await listKeys(s3, bucket, '');
    if (names.length > 0) await s3.removeObjects(bucket, names);
    await s3.removeBucket(bucket);
  });

  test('an object put is read back byte for byte with its content type', async () => {
    const body = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    await s3.putObject(bucket, 'bronze/a/blob.bin', body, body.length, {
      'Content-Type': 'application/octet-stream',
    });
    const got = await streamToBuffer(await s3.getObject(bucket, 'bronze/a/blob.bin'));
    assert.ok(got.equals(body));
    const stat = await s3.statObject(bucket, 'bronze/a/blob.bin');
    assert.equal(stat.size, body.length);
    assert.equal(stat.metaData['content-type'], 'application/octet-stream');
  });

  test('listing with a prefix returns exactly the objects under it', async () => {
    for (const k of ['silver/x/1.json', 'silver/x/2.json', 'silver/y/3.json', 'gold/4.json']) {
      await s3.putObject(bucket, k, Buffer.from(k));
    }
    const listed = await listKeys(s3, bucket, 'silver/x/');
    assert.deepEqual(listed.sort(), ['silver/x/1.json', 'silver/x/2.json']);
  });

  test('a presigned GET URL serves the object to a client without credentials', async () => {
    await s3.putObject(bucket, 'presigned/hello.txt', Buffer.from('hello captions'));
    const url = await s3.presignedGetObject(bucket, 'presigned/hello.txt', 60);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello captions');

    const unsigned = await fetch(`${mustEnv('CF_S3_ENDPOINT')}/${bucket}/presigned/hello.txt`);
    await unsigned.arrayBuffer();
    assert.equal(unsigned.status, 403, 'anonymous access is refused');
  });

  test('many fresh buckets each take writes (a fresh bucket per test must not run out of volumes)', async () => {
    const buckets = Array.from({ length: 20 }, () => uniqueName('cf-test-many'));
    try {
      for (const b of buckets) {
        await s3.makeBucket(b, mustEnv('CF_S3_REGION'));
        await s3.putObject(b, 'k', Buffer.from(b));
      }
      for (const b of buckets) {
        assert.equal((await streamToBuffer(await s3.getObject(b, 'k'))).toString(), b);
      }
    } finally {
      for (const b of buckets) {
        await s3.removeObject(b, 'k').catch(() => undefined);
        await s3.removeBucket(b).catch(() => undefined);
      }
    }
  });

  test('reading a missing key fails with NoSuchKey', async () => {
    await assert.rejects(
      s3.getObject(bucket, 'nope/missing.bin'),
      (err: { code?: string }) => err.code === 'NoSuchKey',
    );
  });
});
