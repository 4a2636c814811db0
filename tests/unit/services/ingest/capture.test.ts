import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateScene } from '../../../../processors/synthetic/index.ts';
import { makeImageCorpus } from '../../../fixtures/bad-input/make-corpus.ts';
import { AUTH, ingestHarness, type IngestHarness } from './ingest-harness.ts';
import { multipartBody } from './multipart-body.ts';

interface ErrorJson {
  error: { code: string; message: string; context?: Record<string, unknown> };
}
interface CaptureJson {
  imageId: string;
  eventId: string;
  captureEventId: string;
}

let photo: Uint8Array;
let other: Uint8Array;
let svg: Uint8Array;

before(async () => {
  photo = (await generateScene(11, { size: 64, format: 'jpeg' })).image;
  other = (await generateScene(12, { size: 64 })).image;
  svg = (await makeImageCorpus()).find((c) => c.name === 'prolog-entity.svg')!.bytes;
});

const baseMeta = {
  clientCaptureId: 'cap-0001',
  deviceId: 'device.A-1',
  capturedAt: '2026-03-04T05:06:07.000Z',
};

async function capture(
  app: IngestHarness['app'],
  metadata: unknown,
  image: Uint8Array | null = photo,
): Promise<{ status: number; body: unknown }> {
  const body = multipartBody([
    { name: 'metadata', value: typeof metadata === 'string' ? metadata : JSON.stringify(metadata) },
    ...(image === null ? [] : [{ name: 'image', filename: 'IMG_0001.jpg', data: image }]),
  ]);
  const res = await app.inject({
    method: 'POST',
    url: '/v1/captures',
    headers: { ...body.headers, ...AUTH },
    payload: body.payload,
  });
  return { status: res.statusCode, body: res.json() };
}

test('a capture with caption and location: bronze object, image.ingested (source mobile) and capture.received', async () => {
  const h = await ingestHarness();
  try {
    const meta = {
      ...baseMeta,
      caption: 'a sunset over the bay',
      language: 'en-GB',
      appVersion: '3.2.1',
      location: { lat: 48.85, lon: 2.35, accuracyMeters: 12 },
    };
    const res = await capture(h.app, meta);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const ids = res.body as CaptureJson;
    const [ingested] = await h.ingested();
    const [received] = await h.captures();
    assert.ok(ingested && received, 'one event of each kind');
    assert.equal(ingested.eventId, ids.eventId);
    assert.equal(ingested.imageId, ids.imageId);
    assert.equal(ingested.lineage.source, 'mobile');
    assert.deepEqual(
      ingested.captions.map((c) => [c.text, c.language]),
      [['a sunset over the bay', 'en-GB']],
    );
    assert.deepEqual(ingested.attributes, {
      deviceId: 'device.A-1',
      capturedAt: '2026-03-04T05:06:07.000Z',
      appVersion: '3.2.1',
    });
    // The location stays in capture.received only.
    assert.ok(!JSON.stringify(ingested).includes('48.85'), 'no location in image.ingested');
    assert.equal(received.eventId, ids.captureEventId);
    assert.deepEqual(received.location, { lat: 48.85, lon: 2.35, accuracyMeters: 12 });
    assert.equal(received.capturedAt, Date.parse(meta.capturedAt));
    assert.equal(received.caption, 'a sunset over the bay');
    assert.ok(await h.lake.deps.objects.exists(ingested.object.key), 'bronze object stored');
  } finally {
    await h.close();
  }
});

test('a capture without caption or location; unknown metadata keys are ignored', async () => {
  const h = await ingestHarness();
  try {
    const res = await capture(h.app, { ...baseMeta, futureField: { x: 1 } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const [ingested] = await h.ingested();
    const [received] = await h.captures();
    assert.deepEqual(ingested?.captions, []);
    assert.equal(received?.location, null);
    assert.equal(received?.caption, null);
  } finally {
    await h.close();
  }
});

test('invalid metadata is 400 with the field path; nothing is written', async () => {
  const h = await ingestHarness();
  const expectInvalid = async (
    metadata: unknown,
    path: string,
    image: Uint8Array | null = photo,
  ): Promise<void> => {
    const res = await capture(h.app, metadata, image);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    const { error } = res.body as ErrorJson;
    assert.equal(error.code, 'REQUEST_INVALID');
    assert.equal(error.context?.field, 'metadata');
    assert.equal(error.context?.path, path);
    assert.ok(error.message.startsWith(path === '' ? 'metadata' : `metadata.${path}:`), error.message);
  };
  try {
    await expectInvalid({ ...baseMeta, location: { lat: 91, lon: 0 } }, 'location.lat');
    await expectInvalid({ ...baseMeta, location: { lat: 10, lon: -180.5 } }, 'location.lon');
    await expectInvalid(
      { ...baseMeta, location: { lat: 10, lon: 10, accuracyMeters: -1 } },
      'location.accuracyMeters',
    );
    await expectInvalid({ deviceId: 'd', capturedAt: baseMeta.capturedAt }, 'clientCaptureId');
    await expectInvalid({ ...baseMeta, clientCaptureId: 'has space' }, 'clientCaptureId');
    await expectInvalid({ ...baseMeta, deviceId: 'x'.repeat(129) }, 'deviceId');
    await expectInvalid({ ...baseMeta, capturedAt: '2026-03-04' }, 'capturedAt');
    await expectInvalid({ ...baseMeta, language: 'english please' }, 'language');

    const notJson = await capture(h.app, '{"clientCaptureId": ');
    assert.equal(notJson.status, 400);
    assert.equal((notJson.body as ErrorJson).error.context?.field, 'metadata');

    const noImage = await capture(h.app, baseMeta, null);
    assert.equal(noImage.status, 400);
    assert.equal((noImage.body as ErrorJson).error.context?.field, 'image');

    const vector = await capture(h.app, baseMeta, svg);
    assert.equal(vector.status, 415);
    assert.equal((vector.body as ErrorJson).error.code, 'UNSUPPORTED_FORMAT');

    assert.deepEqual(await h.keys(), []);
    assert.equal(h.log.readAll('image.ingested').length + h.log.readAll('capture.received').length, 0);
  } finally {
    await h.close();
  }
});

test('a resent capture gets the same ids and 200; nothing is duplicated downstream', async () => {
  const h = await ingestHarness();
  try {
    const meta = { ...baseMeta, caption: 'a red kite' };
    const first = await capture(h.app, meta);
    assert.equal(first.status, 202);
    const keys = await h.keys();

    // Same process: recognised, answered from memory, nothing re-emitted.
    const again = await capture(h.app, meta);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body);
    assert.equal((await h.ingested()).length, 1);
    assert.equal((await h.captures()).length, 1);

    // Same capture id with another image: refused, nothing written.
    const conflict = await capture(h.app, meta, other);
    assert.equal(conflict.status, 409);
    assert.equal((conflict.body as ErrorJson).error.code, 'CAPTURE_CONFLICT');
    assert.deepEqual(await h.keys(), keys);

    // Another replica (no memory, catalog not caught up): 202 but the same ids; the records it
    // re-emits carry the event ids downstream sinks already hold, and no object is added.
    const replica = await h.restart();
    const elsewhere = await capture(replica, meta);
    assert.equal(elsewhere.status, 202);
    assert.deepEqual(elsewhere.body, first.body);
    assert.deepEqual(await h.keys(), keys);
    const ids = first.body as CaptureJson;
    assert.deepEqual(new Set((await h.ingested()).map((e) => e.eventId)), new Set([ids.eventId]));
    assert.deepEqual(new Set((await h.captures()).map((e) => e.eventId)), new Set([ids.captureEventId]));

    // Once normalize has recorded the image (with this capture's event id), a fresh replica recognises the resend.
    await h.lake.deps.catalog.images.upsert({
      id: ids.imageId,
      source: 'mobile',
      status: 'normalized',
      lineage: { ingestEventId: ids.eventId, source: 'mobile' },
    });
    const later = await capture(await h.restart(), meta);
    assert.equal(later.status, 200);
    assert.deepEqual(later.body, first.body);

    // A different capture of the same photo is a new capture.
    const second = await capture(h.app, { ...meta, clientCaptureId: 'cap-0002' });
    assert.equal(second.status, 202);
    assert.equal((second.body as CaptureJson).imageId, ids.imageId);
    assert.notEqual((second.body as CaptureJson).eventId, ids.eventId);
  } finally {
    await h.close();
  }
});

test('two image parts are 413 UPLOAD_TOO_MANY_FILES', async () => {
  const h = await ingestHarness();
  try {
    const body = multipartBody([
      { name: 'metadata', value: JSON.stringify(baseMeta) },
      { name: 'image', filename: 'a.jpg', data: photo },
      { name: 'image', filename: 'b.png', data: other },
    ]);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/captures',
      headers: { ...body.headers, ...AUTH },
      payload: body.payload,
    });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json<ErrorJson>().error.code, 'UPLOAD_TOO_MANY_FILES');
    assert.deepEqual(await h.keys(), []);
  } finally {
    await h.close();
  }
});
