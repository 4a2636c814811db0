/**
 * As a new user would try it: a caption-less capture published to a distributed deployment
 * (Kafka, S3, MongoDB wire) that has no champion yet. It waits (catalog awaiting_model) instead of
 * being retried into a MODEL_LOAD_FAILED dead letter, and gets its machine caption once a model is
 * promoted — driven by model.promoted on the event log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ingestDeps } from '../../../app/pipeline-job.ts';
import { startTopologies } from '../../../app/pipeline.ts';
import { ingestCapture } from '../../../topologies/ingest.ts';
import { recordsIn } from '../../fixtures/log-waits.ts';
import { distributedEnv, eventually, skipUnless, uniqueName } from '../services/service-env.ts';
import { servingFixture, solidPng } from '../serving/serving-fixture.ts';

const skip = skipUnless('CF_KAFKA_BROKERS', 'CF_SCHEMA_REGISTRY_URL', 'CF_S3_ENDPOINT', 'CF_MONGO_URL');

test(
  'a caption-less capture before any champion waits, and is labeled when a model is promoted (no dead letter)',
  { skip, timeout: 180_000 },
  async () => {
    const fx = await servingFixture({}, distributedEnv(uniqueName('cf-await')));
    const { app } = fx;
    const running = await startTopologies(app);
    const producer = await app.log.producer();
    try {
      const png = await solidPng(224, 32, 32, 64);
      const {
        ingested: { imageId },
      } = await ingestCapture(ingestDeps(app, producer), {
        bytes: png,
        clientCaptureId: 'c-1',
        deviceId: 'phone-1',
        capturedAt: Date.UTC(2026, 11, 3),
        producer: 'it',
      });
      await eventually(
        async () => assert.equal((await app.catalog.awaitingModel.get(imageId))?.status, 'awaiting_model'),
        60_000,
      );
      assert.equal(await app.catalog.models.byAlias('captioner', 'champion'), null, 'no champion yet');

      await fx.promote(fx.v1, 0.5);
      await eventually(async () => {
        const captions = await app.catalog.captions.byImage(imageId);
        assert.deepEqual(
          captions.map((c) => [c.origin, c.modelVersion]),
          [['machine', fx.v1]],
        );
        assert.equal((await app.catalog.awaitingModel.get(imageId))?.status, 'labeled');
        assert.equal(await recordsIn(app.log, app.topics.topic('caption.generated')), 1);
      }, 60_000);
      assert.equal(await recordsIn(app.log, app.topics.topic('dead-letter')), 0, 'no dead letter');
    } finally {
      await producer.close();
      await Promise.all(running.map((r) => r.stop({ deadlineMs: 5_000 })));
      await fx.close();
    }
  },
);
