import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { generateScene } from '../../../../processors/synthetic/index.ts';
import { makeImageCorpus, type ImageCase } from '../../../fixtures/bad-input/make-corpus.ts';
import { contentKey } from '../../../../runtime/lake/object-keys.ts';
import { AUTH, API_KEY, ingestHarness } from './ingest-harness.ts';
import { multipartBody } from './multipart-body.ts';

interface ErrorJson {
  error: { code: string; message: string; context?: Record<string, unknown> };
}
interface UploadJson {
  images: { imageId: string; eventId: string; storedNew: boolean; originalFilename: string | null }[];
}

let red: Uint8Array;
let blue: Uint8Array;
let corpus: Map<string, ImageCase>;

before(async () => {
  red = (await generateScene(1, { size: 64 })).image;
  blue = (await generateScene(2, { size: 64 })).image;
  corpus = new Map((await makeImageCorpus()).map((c) => [c.name, c]));
});

function badCase(name: string): Uint8Array {
  const c = corpus.get(name);
  assert.ok(c, `corpus case ${name}`);
  return c.bytes;
}

test('POST /v1/images needs an API key', async () => {
  const h = await ingestHarness();
  try {
    const body = multipartBody([{ name: 'file', filename: 'a.png', data: red }]);
    const res = await h.app.inject({ method: 'POST', url: '/v1/images', ...body });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json<ErrorJson>().error.code, 'UNAUTHENTICATED');
    assert.deepEqual(await h.keys(), []);
  } finally {
    await h.close();
  }
});

test('one file with captions, metadata and externalId: stored in bronze, image.ingested emitted with them', async () => {
  const h = await ingestHarness();
  try {
    const body = multipartBody([
      { name: 'captions', value: JSON.stringify(['a red disc on grass', 'a small red circle']) },
      { name: 'metadata', value: JSON.stringify({ album: 'garden', camera: 'phone-7' }) },
      { name: 'externalId', value: 'img-0001' },
      { name: 'file', filename: 'garden.png', data: red, contentType: 'image/png' },
    ]);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...body.headers, ...AUTH },
      payload: body.payload,
    });
    assert.equal(res.statusCode, 202, res.body);
    const [image] = res.json<UploadJson>().images;
    assert.ok(image, 'one image in the answer');
    assert.equal(image.storedNew, true);
    assert.equal(image.originalFilename, 'garden.png');

    const [event, ...more] = await h.ingested();
    assert.ok(event, 'one image.ingested event');
    assert.equal(more.length, 0);
    assert.equal(event.eventId, image.eventId);
    assert.equal(event.imageId, image.imageId);
    assert.equal(event.lineage.source, 'upload');
    assert.deepEqual(
      event.captions.map((c) => [c.text, c.origin]),
      [
        ['a red disc on grass', 'human'],
        ['a small red circle', 'human'],
      ],
    );
    assert.deepEqual(event.attributes, { album: 'garden', camera: 'phone-7' });
    assert.equal(event.externalId, 'img-0001');
    assert.equal(event.originalFilename, 'garden.png');
    assert.match(event.producer, /^api-key:[0-9a-f]{12}$/);
    assert.ok(!event.producer.includes(API_KEY), 'the key never reaches the event');
    assert.equal(event.object.key, contentKey('bronze', image.imageId, 'png'));
    assert.ok(await h.lake.deps.objects.exists(event.object.key), 'bronze object stored');

    // The same request again: nothing new stored, the same event id.
    const again = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...body.headers, ...AUTH },
      payload: body.payload,
    });
    assert.equal(again.statusCode, 202);
    assert.deepEqual(again.json<UploadJson>().images, [{ ...image, storedNew: false }]);
  } finally {
    await h.close();
  }
});

test('several files: captions by filename, one event per file, files without captions get none', async () => {
  const h = await ingestHarness();
  try {
    const body = multipartBody([
      { name: 'file', filename: 'red.png', data: red },
      { name: 'file', filename: 'blue.png', data: blue },
      { name: 'captions', value: JSON.stringify({ 'blue.png': ['a blue scene'] }) },
      { name: 'metadata', value: JSON.stringify({ batch: 'b1' }) },
    ]);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...body.headers, ...AUTH },
      payload: body.payload,
    });
    assert.equal(res.statusCode, 202, res.body);
    const images = res.json<UploadJson>().images;
    assert.deepEqual(
      images.map((i) => i.originalFilename),
      ['red.png', 'blue.png'],
    );
    const events = await h.ingested();
    assert.equal(events.length, 2);
    const byName = new Map(events.map((e) => [e.originalFilename, e]));
    assert.deepEqual(byName.get('red.png')?.captions, []);
    assert.deepEqual(
      byName.get('blue.png')?.captions.map((c) => c.text),
      ['a blue scene'],
    );
    for (const e of events) {
      assert.equal(e.lineage.source, 'upload');
      assert.deepEqual(e.attributes, { batch: 'b1' });
      assert.ok(await h.lake.deps.objects.exists(e.object.key), `bronze object of ${e.originalFilename}`);
    }
    assert.equal(new Set(images.map((i) => i.eventId)).size, 2);
  } finally {
    await h.close();
  }
});

test('a file over the size limit refuses the whole request with 413 naming it; nothing is written', async () => {
  const h = await ingestHarness({ limits: { maxFileBytes: Math.max(red.byteLength, 2048) } });
  try {
    const big = new Uint8Array(Math.max(red.byteLength, 2048) + 1);
    big.set(blue.subarray(0, Math.min(blue.byteLength, big.byteLength)));
    const body = multipartBody([
      { name: 'file', filename: 'small.png', data: red },
      { name: 'file', filename: 'huge.png', data: big },
    ]);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...body.headers, ...AUTH },
      payload: body.payload,
    });
    assert.equal(res.statusCode, 413, res.body);
    const { error } = res.json<ErrorJson>();
    assert.equal(error.code, 'IMAGE_TOO_LARGE');
    assert.equal(error.context?.filename, 'huge.png');
    assert.match(error.message, /huge\.png/);
    assert.deepEqual(await h.keys(), []);
    assert.equal((await h.ingested()).length, 0);
  } finally {
    await h.close();
  }
});

test('the ingest maxBytes caps the per-file limit too', async () => {
  const h = await ingestHarness({ maxBytes: red.byteLength - 1 });
  try {
    const body = multipartBody([{ name: 'file', filename: 'red.png', data: red }]);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...body.headers, ...AUTH },
      payload: body.payload,
    });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json<ErrorJson>().error.context?.limit, red.byteLength - 1);
  } finally {
    await h.close();
  }
});

test('an SVG among good files is 415 UNSUPPORTED_FORMAT naming it; nothing is written', async () => {
  const h = await ingestHarness();
  try {
    const body = multipartBody([
      { name: 'file', filename: 'red.png', data: red },
      {
        name: 'file',
        filename: 'external-ref.svg',
        data: badCase('external-ref.svg'),
        contentType: 'image/png',
      },
    ]);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...body.headers, ...AUTH },
      payload: body.payload,
    });
    assert.equal(res.statusCode, 415, res.body);
    const { error } = res.json<ErrorJson>();
    assert.equal(error.code, 'UNSUPPORTED_FORMAT');
    assert.equal(error.context?.filename, 'external-ref.svg');
    assert.deepEqual(await h.keys(), []);
    assert.equal((await h.ingested()).length, 0);
  } finally {
    await h.close();
  }
});

test('random bytes are 415, an empty file is 400 IMAGE_EMPTY, a non-multipart request is 415', async () => {
  const h = await ingestHarness();
  try {
    const random = multipartBody([
      { name: 'file', filename: 'random-bytes.jpg', data: badCase('random-bytes.jpg') },
    ]);
    const r1 = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...random.headers, ...AUTH },
      payload: random.payload,
    });
    assert.equal(r1.statusCode, 415);
    const empty = multipartBody([{ name: 'file', filename: 'empty.jpg', data: badCase('empty.jpg') }]);
    const r2 = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...empty.headers, ...AUTH },
      payload: empty.payload,
    });
    assert.equal(r2.statusCode, 400);
    assert.equal(r2.json<ErrorJson>().error.code, 'IMAGE_EMPTY');
    const json = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: AUTH,
      payload: { file: 'x' },
    });
    assert.equal(json.statusCode, 415);
    assert.equal(json.json<ErrorJson>().error.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.deepEqual(await h.keys(), []);
  } finally {
    await h.close();
  }
});

test('more files than maxFiles is 413 UPLOAD_TOO_MANY_FILES; nothing is written', async () => {
  const h = await ingestHarness({ limits: { maxFiles: 2 } });
  try {
    const body = multipartBody([
      { name: 'file', filename: 'a.png', data: red },
      { name: 'file', filename: 'b.png', data: blue },
      { name: 'file', filename: 'c.png', data: red },
    ]);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...body.headers, ...AUTH },
      payload: body.payload,
    });
    assert.equal(res.statusCode, 413, res.body);
    assert.equal(res.json<ErrorJson>().error.code, 'UPLOAD_TOO_MANY_FILES');
    assert.deepEqual(await h.keys(), []);
  } finally {
    await h.close();
  }
});

test('bad fields are 400 naming the field: captions JSON, captions shape, metadata values, unknown fields; a big field is 413', async () => {
  const h = await ingestHarness({ limits: { maxCaptionsPerImage: 2, maxFieldBytes: 256 } });
  const send = async (
    parts: Parameters<typeof multipartBody>[0],
  ): Promise<{ status: number; error: ErrorJson['error'] }> => {
    const body = multipartBody(parts);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...body.headers, ...AUTH },
      payload: body.payload,
    });
    return { status: res.statusCode, error: res.json<ErrorJson>().error };
  };
  const file = { name: 'file', filename: 'red.png', data: red };
  try {
    const notJson = await send([file, { name: 'captions', value: '["a dog", ' }]);
    assert.equal(notJson.status, 400);
    assert.equal(notJson.error.code, 'REQUEST_INVALID');
    assert.equal(notJson.error.context?.field, 'captions');
    assert.match(notJson.error.message, /^captions: not valid JSON/);

    const tooMany = await send([file, { name: 'captions', value: '["a", "b", "c"]' }]);
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.error.context?.field, 'captions');

    const blank = await send([file, { name: 'captions', value: '["  "]' }]);
    assert.equal(blank.status, 400);
    assert.match(blank.error.message, /^captions\[0\]: /);

    const unknownName = await send([file, { name: 'captions', value: '{"other.png": ["a dog"]}' }]);
    assert.equal(unknownName.status, 400);
    assert.match(unknownName.error.message, /other\.png/);

    const arrayForMany = await send([
      file,
      { ...file, filename: 'b.png', data: blue },
      { name: 'captions', value: '["a dog"]' },
    ]);
    assert.equal(arrayForMany.status, 400);
    assert.equal(arrayForMany.error.context?.field, 'captions');

    const badMetadata = await send([file, { name: 'metadata', value: '{"album": 7}' }]);
    assert.equal(badMetadata.status, 400);
    assert.equal(badMetadata.error.context?.field, 'metadata');
    assert.equal(badMetadata.error.context?.path, 'album');

    const unknown = await send([file, { name: 'capitons', value: '[]' }]);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.error.context?.field, 'capitons');

    const noFile = await send([{ name: 'captions', value: '["a dog"]' }]);
    assert.equal(noFile.status, 400);
    assert.equal(noFile.error.context?.field, 'file');

    const externalForMany = await send([
      file,
      { ...file, filename: 'b.png', data: blue },
      { name: 'externalId', value: 'x1' },
    ]);
    assert.equal(externalForMany.status, 400);
    assert.equal(externalForMany.error.context?.field, 'externalId');

    // Bytes that are not UTF-8 (a Latin-1 "é" and a lone continuation byte) are refused, not stored as U+FFFD.
    const notUtf8 = await send([file, { name: 'captions', value: Buffer.concat([Buffer.from('["caf'), Buffer.from([0xe9, 0x80]), Buffer.from('"]')]) }]);
    assert.equal(notUtf8.status, 400);
    assert.equal(notUtf8.error.code, 'FIELD_INVALID_UTF8');
    assert.equal(notUtf8.error.context?.field, 'captions');

    const big = await send([file, { name: 'metadata', value: JSON.stringify({ note: 'x'.repeat(300) }) }]);
    assert.equal(big.status, 413);
    assert.equal(big.error.code, 'FIELD_TOO_LARGE');
    assert.equal(big.error.context?.field, 'metadata');

    const extra = await send([
      file,
      { name: 'captions', value: '[]' },
      { name: 'metadata', value: '{}' },
      { name: 'externalId', value: 'x1' },
      { name: 'note', value: 'one field too many' },
    ]);
    assert.equal(extra.status, 413);
    assert.equal(extra.error.code, 'UPLOAD_TOO_MANY_PARTS');

    assert.deepEqual(await h.keys(), []);
    assert.equal((await h.ingested()).length, 0);
  } finally {
    await h.close();
  }
});

test('a path-traversal filename is harmless: the key is the content hash, the name is only originalFilename (its last segment)', async () => {
  const h = await ingestHarness();
  try {
    const body = multipartBody([
      { name: 'file', filename: '../../etc/passwd', data: red },
      // The multipart parser keeps the last path segment only; captions are matched on it.
      { name: 'captions', value: JSON.stringify({ passwd: ['a red scene'] }) },
      { name: 'file', filename: '..\\..\\windows\\win.ini', data: blue },
      { name: 'file', filename: '..', data: (await generateScene(3, { size: 64 })).image },
    ]);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...body.headers, ...AUTH },
      payload: body.payload,
    });
    assert.equal(res.statusCode, 202, res.body);
    const images = res.json<UploadJson>().images;
    assert.deepEqual(
      images.map((i) => i.originalFilename),
      ['passwd', 'win.ini', null],
    );
    const keys = await h.keys();
    assert.deepEqual(keys.sort(), images.map((i) => contentKey('bronze', i.imageId, 'png')).sort());
    const [event] = (await h.ingested()).filter((e) => e.originalFilename === 'passwd');
    assert.deepEqual(
      event?.captions.map((c) => c.text),
      ['a red scene'],
    );
    // Nothing was written next to (or above) the lake root.
    const root = h.lake.deps.objects.location;
    assert.equal(existsSync(join(root, '..', '..', 'etc', 'passwd')), false);
    assert.equal(existsSync(join(root, '..', 'etc')), false);
    assert.equal(existsSync(join(root, 'passwd')), false);
  } finally {
    await h.close();
  }
});
