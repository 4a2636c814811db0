/**
 * POST /v1/captions answers each caption with the serving version's domain verdict when the
 * version was registered with a domain gate (the tiny trained model's, tests/fixtures/onnx/gated-model.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttpServer } from '../../../runtime/http/server.ts';
import { promoteIfBetter, registerModel } from '../../../runtime/lake/model-registry.ts';
import { trainDepsOf } from '../../../app/jobs/standard-jobs.ts';
import { registerAppCaptionRoutes, startAppServing } from '../../../app/serving.ts';
import { benchPhotos } from '../../bench/photos.ts';
import { gatedModel } from '../../fixtures/onnx/gated-model.ts';
import { multipartBody, servingFixture } from './serving-fixture.ts';

interface Result {
  ok: boolean;
  caption?: string;
  modelVersion: string;
  domain?: { score: number; threshold: number; inDomain: boolean };
}

test('every caption names its domain verdict: score, the version\'s calibrated threshold, inDomain', { timeout: 10 * 60_000 }, async () => {
  const model = await gatedModel();
  const photo = new Uint8Array((await benchPhotos({ min: 1, install: false })).photos[0]!.bytes);
  const fx = await servingFixture();
  const producer = await fx.app.log.producer();
  const serving = await startAppServing(fx.app);
  const http = createHttpServer({ logger: fx.app.logger, metrics: fx.app.metrics, apiKeys: fx.app.config.http.apiKeys });
  try {
    await registerAppCaptionRoutes(http, fx.app, serving);
    await http.ready();
    const deps = trainDepsOf(fx.app, producer);
    const version = (await registerModel(deps, { name: 'captioner', files: model.bundle, format: 'captionflow-onnx', datasetId: 'ds-gated' })).id;
    const decision = await promoteIfBetter(deps, 'captioner', { version, metrics: { ciderD: 1 } }, null, { metric: 'ciderD', margin: 0 });
    assert.ok(decision.promoted, decision.reason);
    for (let i = 0; i < 200 && serving.host.versionOf() !== version; i++) await sleep(50);
    assert.equal(serving.host.versionOf(), version);

    const { body, contentType } = multipartBody([model.heldOut[0]!, photo]);
    const res = await http.inject({ method: 'POST', url: '/v1/captions', headers: { 'content-type': contentType, 'x-api-key': 'reader-key' }, payload: body });
    assert.equal(res.statusCode, 200, res.body);
    const results = res.json<{ results: Result[] }>().results;
    assert.equal(results.length, 2);
    for (const r of results) {
      assert.ok(r.ok && r.domain !== undefined, JSON.stringify(r));
      assert.equal(r.modelVersion, version);
      assert.equal(r.domain.threshold, model.gate.threshold);
      assert.equal(r.domain.inDomain, r.domain.score <= r.domain.threshold);
    }
  } finally {
    await http.close();
    await serving.close();
    await producer.close();
    await fx.close();
  }
});
