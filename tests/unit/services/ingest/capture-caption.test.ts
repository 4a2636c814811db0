/**
 * `POST /v1/captures` answers with a caption right away when caption serving runs in the same
 * process, says why not otherwise, and stores and emits the capture exactly once either way.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateScene } from '../../../../processors/synthetic/index.ts';
import { PipelineError } from '../../../../schemas/errors.ts';
import type { CaptureCaptioner } from '../../../../services/ingest/routes.ts';
import { captureCaptioner } from '../../../../services/serving/capture-captioner.ts';
import type { CaptionService, ImageCaption } from '../../../../services/serving/caption-service.ts';
import { queueFull } from '../../../../services/serving/serving-errors.ts';
import { AUTH, ingestHarness, type IngestHarness } from './ingest-harness.ts';
import { multipartBody } from './multipart-body.ts';

let photo: Uint8Array;
before(async () => {
  photo = (await generateScene(11, { size: 64, format: 'jpeg' })).image;
});

const meta = { clientCaptureId: 'cap-0001', deviceId: 'device.A-1', capturedAt: '2026-03-04T05:06:07.000Z' };

async function capture(
  app: IngestHarness['app'],
): Promise<{ status: number; body: Record<string, unknown> }> {
  const body = multipartBody([
    { name: 'metadata', value: JSON.stringify(meta) },
    { name: 'image', filename: 'IMG_0001.jpg', data: photo },
  ]);
  const res = await app.inject({
    method: 'POST',
    url: '/v1/captures',
    headers: { ...body.headers, ...AUTH },
    payload: body.payload,
  });
  return { status: res.statusCode, body: res.json() };
}

test('with caption serving: the answer carries the caption and its model version; a resend too; the capture is emitted once', async () => {
  const seen: number[] = [];
  const captioner: CaptureCaptioner = (image) => {
    seen.push(image.byteLength);
    return Promise.resolve({
      caption: { text: 'a red circle', score: -0.2, modelVersion: 'm-1' },
      captionStatus: 'captioned',
    });
  };
  const h = await ingestHarness({ captioner });
  try {
    const first = await capture(h.app);
    assert.equal(first.status, 202);
    assert.equal(first.body.captionStatus, 'captioned');
    assert.deepEqual(first.body.caption, { text: 'a red circle', score: -0.2, modelVersion: 'm-1' });
    assert.equal(seen[0], photo.byteLength, 'the captioner got the image bytes');
    const again = await capture(h.app);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body);
    assert.equal((await h.ingested()).length, 1, 'one image.ingested');
    assert.equal((await h.captures()).length, 1, 'one capture.received');
  } finally {
    await h.close();
  }
});

test('without caption serving: caption null, captionStatus serving_unavailable, the capture is accepted as before', async () => {
  const h = await ingestHarness();
  try {
    const res = await capture(h.app);
    assert.equal(res.status, 202);
    assert.equal(res.body.caption, null);
    assert.equal(res.body.captionStatus, 'serving_unavailable');
    assert.equal((await h.ingested()).length, 1);
  } finally {
    await h.close();
  }
});

test('no champion yet: captionStatus no_model (no error), and the capture is in the lake', async () => {
  const h = await ingestHarness({
    captioner: captureCaptioner(
      serviceThrowing(new PipelineError('NO_MODEL', 'no model serves champion yet')),
      1_000,
    ),
  });
  try {
    const res = await capture(h.app);
    assert.equal(res.status, 202);
    assert.deepEqual(
      [res.body.caption, res.body.captionStatus, res.body.captionError],
      [null, 'no_model', undefined],
    );
    assert.equal((await h.ingested()).length, 1);
  } finally {
    await h.close();
  }
});

/** A caption service that answers `results` or throws `err`. */
function serviceThrowing(err: Error): Pick<CaptionService, 'caption'> {
  return { caption: () => Promise.reject(err) };
}
function serviceAnswering(
  results: ImageCaption[],
): Pick<CaptionService, 'caption'> & { deadlines: (number | undefined)[] } {
  const deadlines: (number | undefined)[] = [];
  return {
    deadlines,
    caption: (req) => {
      deadlines.push(req.deadline);
      return Promise.resolve(results);
    },
  };
}

test('the serving captioner maps outcomes to captionStatus: captioned, busy, timeout, failed (with the error), and passes a deadline', async () => {
  const image = new Uint8Array([1, 2, 3]);
  const ok = serviceAnswering([
    {
      ok: true,
      text: 'a cat',
      score: -0.5,
      finished: true,
      modelVersion: 'v7',
      batchSize: 3,
      timings: { queueMs: 1, preprocessMs: 2, inferenceMs: 3 },
    },
  ]);
  const before = performance.now();
  assert.deepEqual(await captureCaptioner(ok, 5_000)(image), {
    caption: { text: 'a cat', score: -0.5, modelVersion: 'v7' },
    captionStatus: 'captioned',
  });
  assert.ok(ok.deadlines[0]! >= before + 5_000, 'the serving timeout becomes the request deadline');

  const busy = await captureCaptioner(serviceThrowing(queueFull(10, 10, 1)), 100)(image);
  assert.equal(busy.captionStatus, 'busy');
  assert.equal(busy.captionError?.code, 'QUEUE_FULL');

  const late = serviceAnswering([
    {
      ok: false,
      modelVersion: 'v7',
      error: {
        name: 'PipelineError',
        code: 'DEADLINE_EXCEEDED',
        message: 'too late',
        retriable: true,
        context: {},
      },
    },
  ]);
  assert.equal((await captureCaptioner(late, 100)(image)).captionStatus, 'timeout');

  const bad = serviceAnswering([
    {
      ok: false,
      modelVersion: 'v7',
      error: {
        name: 'PipelineError',
        code: 'IMAGE_DECODE_FAILED',
        message: 'corrupt',
        retriable: false,
        context: {},
      },
    },
  ]);
  assert.deepEqual(await captureCaptioner(bad, 100)(image), {
    caption: null,
    captionStatus: 'failed',
    captionError: { code: 'IMAGE_DECODE_FAILED', message: 'corrupt' },
  });

  const crashed = await captureCaptioner(serviceThrowing(new Error('boom')), 100)(image);
  assert.equal(crashed.captionStatus, 'failed');
});
