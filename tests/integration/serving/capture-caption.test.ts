/**
 * The mobile capture door answered with a caption by the caption serving of the same process
 * (`captionflow run`): before any champion the answer says `no_model`; once `model.promoted`
 * swapped the champion in, the answer carries its caption and version; the capture enters the
 * lake once (one image.ingested, one capture.received) however often it is sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSystem } from '../../../app/system.ts';
import { recordsIn } from '../../fixtures/log-waits.ts';
import { freePort } from '../../fixtures/child-process.ts';
import { servingFixture, solidPng } from './serving-fixture.ts';

async function sendCapture(
  url: string,
  image: Uint8Array,
  clientCaptureId: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  form.set(
    'metadata',
    JSON.stringify({ clientCaptureId, deviceId: 'phone-1', capturedAt: '2026-12-03T10:00:00Z' }),
  );
  form.set('image', new Blob([image], { type: 'image/png' }), 'capture.png');
  const res = await fetch(`${url}/v1/captures`, {
    method: 'POST',
    headers: { 'x-api-key': 'reader-key' },
    body: form,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test(
  'POST /v1/captures: no_model before a champion, then the champion caption at once; the capture is stored once',
  { timeout: 120_000 },
  async () => {
    const fx = await servingFixture({ 'http.port': await freePort(), 'http.host': '127.0.0.1' });
    const system = await startSystem(fx.app, { topologies: false, scheduler: false });
    try {
      const red = await solidPng(224, 32, 32, 64);
      const before = await sendCapture(system.url, red, 'c-1');
      assert.equal(before.status, 202);
      assert.deepEqual([before.body.caption, before.body.captionStatus], [null, 'no_model']);

      await fx.promote(fx.v1, 0.5);
      let after = await sendCapture(system.url, await solidPng(32, 32, 224, 64), 'c-2');
      for (let i = 0; i < 100 && after.body.captionStatus === 'no_model'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        after = await sendCapture(system.url, await solidPng(32, 32, 224, 64), 'c-2');
      }
      assert.equal(after.body.captionStatus, 'captioned');
      const caption = after.body.caption as { text: string; modelVersion: string; score: number };
      assert.deepEqual([caption.text, caption.modelVersion], ['a blue circle', fx.v1]);
      assert.ok(caption.score <= 0);

      const ingested = fx.app.topics.topic('image.ingested');
      const captures = fx.app.topics.topic('capture.received');
      assert.equal(
        await recordsIn(fx.app.log, ingested),
        2,
        'two captures, one image.ingested each, resends included',
      );
      assert.equal(await recordsIn(fx.app.log, captures), 2);
    } finally {
      await system.stop();
      await fx.close();
    }
  },
);
