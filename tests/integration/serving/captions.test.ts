/**
 * Caption serving end to end in one process on real worker threads and the tiny ONNX model:
 * POST /v1/captions with per-image answers, lake image ids, QUEUE_FULL and deadlines, and hot
 * swap driven by model.promoted under load with no failed request.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../../runtime/http/server.ts';
import { registerAppCaptionRoutes, startAppServing } from '../../../app/serving.ts';
import { MIN_REQUEST_TIMEOUT_MS, registerCaptionRoutes } from '../../../services/serving/caption-route.ts';
import type { Serving } from '../../../services/serving/serving.ts';
import { multipartBody, servingFixture, solidPng, type ServingFixture } from './serving-fixture.ts';

interface Result {
  index: number;
  ok: boolean;
  caption?: string;
  modelVersion: string;
  timings?: { queueMs: number; preprocessMs: number; inferenceMs: number };
  error?: { code: string };
}

let fx: ServingFixture;
let serving: Serving;
let http: FastifyInstance;
let red: Buffer;
let blue: Buffer;

async function caption(
  images: readonly Uint8Array[],
  options?: unknown,
): Promise<{
  status: number;
  headers: Record<string, unknown>;
  body: { modelVersion?: string; results?: Result[]; error?: { code: string } };
}> {
  const { body, contentType } = multipartBody(images, options);
  const res = await http.inject({
    method: 'POST',
    url: '/v1/captions',
    headers: { 'content-type': contentType, 'x-api-key': 'reader-key' },
    payload: body,
  });
  return { status: res.statusCode, headers: res.headers, body: res.json() };
}

before(async () => {
  fx = await servingFixture({ 'serving.queueLimit': 8, 'serving.maxImages': 12 });
  red = await solidPng(255, 0, 0);
  blue = await solidPng(0, 0, 255);
  serving = await startAppServing(fx.app);
  http = createHttpServer({
    logger: fx.app.logger,
    metrics: fx.app.metrics,
    apiKeys: fx.app.config.http.apiKeys,
  });
  await registerAppCaptionRoutes(http, fx.app, serving);
  await http.ready();
});

after(async () => {
  await http.close();
  await serving.close();
  await fx.close();
});

describe('POST /v1/captions', () => {
  it('answers 503 NO_MODEL with Retry-After before any model is promoted', async () => {
    const res = await caption([red]);
    assert.equal(res.status, 503);
    assert.equal(res.body.error?.code, 'NO_MODEL');
    assert.ok(res.headers['retry-after']);
  });

  it('serves the champion once model.promoted arrives, and a bad image fails alone', async () => {
    await fx.promote(fx.v1, 0.1);
    for (let i = 0; i < 100 && serving.host.versionOf() !== fx.v1; i++) await sleep(50);
    assert.equal(serving.host.versionOf(), fx.v1, 'swapped on model.promoted');
    const res = await caption([
      red,
      Buffer.from('definitely not an image'),
      blue,
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]),
    ]);
    assert.equal(res.status, 200);
    assert.equal(res.body.modelVersion, fx.v1);
    assert.equal(res.headers['x-model-version'], fx.v1);
    const results = res.body.results!;
    assert.deepEqual(
      results.map((r) => (r.ok ? r.caption : r.error?.code)),
      ['a red circle', 'UNSUPPORTED_FORMAT', 'a blue circle', 'IMAGE_DECODE_FAILED'],
    );
    for (const r of results) assert.equal(r.modelVersion, fx.v1);
    const t = results[0]!.timings!;
    assert.ok(t.queueMs >= 0 && t.preprocessMs >= 0 && t.inferenceMs > 0, JSON.stringify(t));
  });

  it('takes decoding options (beam, n-gram rule) and refuses unknown ones with 400', async () => {
    const ok = await caption([blue], {
      strategy: 'beam',
      beamSize: 2,
      noRepeatNgramSize: 2,
      repetitionPenalty: 1.2,
      maxLength: 8,
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.results?.[0]?.caption, 'a blue circle');
    const bad = await caption([blue], { temperature: 2 });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error?.code, 'REQUEST_INVALID');
  });

  it('answers 404 MODEL_ALIAS_UNKNOWN (not a retriable 503) for an alias the registry does not have', async () => {
    const res = await caption([blue], { alias: 'no-such-alias' });
    assert.equal(res.status, 404);
    assert.equal(res.body.error?.code, 'MODEL_ALIAS_UNKNOWN');
    assert.equal(res.headers['retry-after'], undefined);
  });

  it('captions lake images by id, with its own error for an unknown id', async () => {
    const sha = createHash('sha256').update(red).digest('hex');
    const put = await fx.app.objects.put(`bronze/${sha}`, red);
    await fx.app.catalog.images.upsert({
      id: sha,
      objects: {
        bronze: {
          layer: 'bronze',
          bucket: fx.app.lake.bucket,
          key: put.key,
          sha256: put.sha256,
          size: put.size,
          versionId: put.versionId,
        },
      },
    });
    const res = await http.inject({
      method: 'POST',
      url: '/v1/captions',
      headers: { 'x-api-key': 'reader-key' },
      payload: { imageIds: [sha, 'f'.repeat(64)] },
    });
    assert.equal(res.statusCode, 200);
    const results = res.json<{ results: Result[] }>().results;
    assert.deepEqual(
      results.map((r) => (r.ok ? r.caption : r.error?.code)),
      ['a red circle', 'OBJECT_NOT_FOUND'],
    );
  });

  it('refuses a request that does not fit the queue with 503 QUEUE_FULL and Retry-After', async () => {
    const res = await caption(Array.from({ length: 9 }, () => red));
    assert.equal(res.status, 503);
    assert.equal(res.body.error?.code, 'QUEUE_FULL');
    assert.ok(Number(res.headers['retry-after']) >= 1);
  });

  it('answers 504 DEADLINE_EXCEEDED when the deadline passes first; a client deadline under a second is 400', async () => {
    const tooShort = await caption([red], { timeoutMs: MIN_REQUEST_TIMEOUT_MS - 1 });
    assert.equal(tooShort.status, 400);
    assert.equal(tooShort.body.error?.code, 'REQUEST_INVALID');
    // The operator's default deadline has no floor: 1 ms makes the deadline pass first.
    const strict = createHttpServer({ logger: fx.app.logger, metrics: fx.app.metrics, apiKeys: ['reader-key'] });
    await registerCaptionRoutes(strict, {
      service: serving.service,
      limits: { maxImages: 12, maxImageBytes: 1 << 20, defaultTimeoutMs: 1, maxTimeoutMs: 1 },
    });
    try {
      const { body, contentType } = multipartBody([red, blue, red], { strategy: 'beam', beamSize: 4 });
      const res = await strict.inject({
        method: 'POST',
        url: '/v1/captions',
        headers: { 'content-type': contentType, 'x-api-key': 'reader-key' },
        payload: body,
      });
      assert.equal(res.statusCode, 504);
      assert.equal(res.json<{ error: { code: string } }>().error.code, 'DEADLINE_EXCEEDED');
    } finally {
      await strict.close();
    }
  });

  it('needs an API key', async () => {
    const { body, contentType } = multipartBody([red]);
    const res = await http.inject({
      method: 'POST',
      url: '/v1/captions',
      headers: { 'content-type': contentType },
      payload: body,
    });
    assert.equal(res.statusCode, 401);
  });

  it('swaps models under load with no failed request, and the answers switch version', async () => {
    let stop = false;
    const seen: string[] = [];
    const failures: string[] = [];
    const client = async (): Promise<void> => {
      while (!stop) {
        const res = await caption([red, blue]);
        if (res.status !== 200 || res.body.results?.some((r) => !r.ok))
          failures.push(`${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        else seen.push(res.body.modelVersion!);
      }
    };
    const clients = Array.from({ length: 6 }, () => client());
    await sleep(300);
    await fx.promote(fx.v2, 0.2);
    for (let i = 0; i < 200 && !seen.slice(-5).every((v) => v === fx.v2); i++) await sleep(50);
    // A broken promotion under load: the current model keeps serving.
    await fx.promote(fx.broken, 0.3);
    await sleep(1_000);
    stop = true;
    await Promise.all(clients);
    assert.deepEqual(failures, [], 'no request failed');
    assert.ok(
      seen.includes(fx.v1) && seen.includes(fx.v2),
      `both versions answered (${seen.length} requests)`,
    );
    const firstV2 = seen.indexOf(fx.v2);
    assert.ok(
      seen.slice(firstV2 + 12).every((v) => v === fx.v2),
      'after the swap, answers come from the new version',
    );
    assert.equal(serving.host.versionOf(), fx.v2, 'the broken model did not replace the working one');
    const text = await fx.app.metrics.text();
    assert.match(
      text,
      new RegExp(
        `captionflow_serving_model_load_failures_total\\{[^}]*model_version="${fx.broken}"[^}]*\\} 1`,
      ),
    );
    assert.match(
      text,
      new RegExp(`captionflow_serving_requests_total\\{[^}]*model_version="${fx.v2}",outcome="ok"\\} \\d+`),
    );
    assert.match(text, /captionflow_serving_batch_size_bucket/);
  });
});
