import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { ErrorCodes } from '../../../schemas/errors.ts';
import type { DeadLetter } from '../../../schemas/generated/types.ts';
import { loadConfig, type Config } from '../../../runtime/config.ts';
import { openApp, type App } from '../../../app/app.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { waitForCatchUp } from '../../../runtime/engine/lag.ts';
import { ingestDeps } from '../../../app/pipeline-job.ts';
import { startTopologies } from '../../../app/pipeline.ts';
import { ingestImage } from '../../../topologies/ingest.ts';
import { generateScene } from '../../../processors/synthetic/index.ts';
import { makeImageCorpus } from '../../fixtures/bad-input/make-corpus.ts';
import { distributedEnv } from '../services/service-env.ts';

const env = process.env;
const servers = env.CF_KAFKA_BROKERS !== undefined && env.CF_SCHEMA_REGISTRY_URL !== undefined && env.CF_S3_ENDPOINT !== undefined && env.CF_MONGO_URL !== undefined;

/** Ingest good scenes and the bad-input corpus, run normalize + curate to the end, check the lake. */
async function exercise(app: App): Promise<void> {
  const running = await startTopologies(app);
  try {
    const producer = await app.log.producer();
    const deps = ingestDeps(app, producer);
    const scenes = await Promise.all([11, 12, 13, 14].map((s) => generateScene(s, { size: 96 })));
    for (const s of scenes) await ingestImage(deps, { bytes: s.image, source: 'bulk', producer: 'it', externalId: s.id, captions: s.captions.map((text) => ({ text })) });
    // The bad-input corpus: what passes the door's cheap checks must be dead-lettered by normalize
    // with its code; what the door refuses is never written nor emitted.
    const corpus = (await makeImageCorpus()).filter((c) => c.options === undefined && c.expectedCode !== null);
    const poison: typeof corpus = [];
    for (const c of corpus) {
      try {
        await ingestImage(deps, { bytes: c.bytes, source: 'upload', producer: 'it', captions: [{ text: `poison ${c.name}` }] });
        poison.push(c);
      } catch (err) {
        assert.equal((err as { code?: string }).code, c.expectedCode === ErrorCodes.IMAGE_EMPTY ? ErrorCodes.IMAGE_EMPTY : ErrorCodes.UNSUPPORTED_FORMAT, c.name);
      }
    }
    assert.ok(poison.length >= 2, 'some poison reaches the topology');
    // Door rejections: never written, never emitted.
    await assert.rejects(ingestImage(deps, { bytes: new Uint8Array(0), source: 'upload', producer: 'it' }), { code: ErrorCodes.IMAGE_EMPTY });
    await assert.rejects(ingestImage(deps, { bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), source: 'upload', producer: 'it' }), { code: ErrorCodes.UNSUPPORTED_FORMAT });
    await producer.close();

    await waitForCatchUp(app.log, [
      { group: app.topics.topic('captionflow-normalize'), topic: app.topics.topic('image.ingested') },
      { group: app.topics.topic('captionflow-curate'), topic: app.topics.topic('image.normalized') },
    ], { timeoutMs: 120_000 });

    const curated = await app.catalog.images.list({ status: 'curated' }, { limit: 100 });
    assert.equal(curated.items.length, scenes.length);
    for (const img of curated.items) {
      assert.ok(img.objects.gold !== undefined && (await app.objects.exists(img.objects.gold.key)), 'gold object exists');
      assert.ok(img.objects.silver !== undefined && (await app.objects.exists(img.objects.silver.key)), 'silver object exists');
      const meta = await sharp(await app.objects.get(img.objects.gold.key)).metadata();
      assert.equal(meta.width, app.config.processing.imageSize);
      assert.equal(meta.exif, undefined);
      assert.ok((await app.catalog.captions.byImage(img.id)).length >= 3);
      assert.deepEqual(img.lineage?.hops.map((h) => h.topology).sort(), ['curate', 'normalize']);
    }
    // Dead letters carry their stable codes.
    const dlqTopic = app.topics.topic('dead-letter');
    const consumer = await app.log.consumer({ group: `dlq-reader-${randomUUID()}`, topics: [dlqTopic] });
    const letters: DeadLetter[] = [];
    const done = new Promise<void>((resolve) => {
      void consumer.run(async (batch) => {
        for (const r of batch.records) letters.push((await app.serde.decode(dlqTopic, r.value!)).value as DeadLetter);
        if (letters.length >= poison.length) resolve();
      });
    });
    await done;
    await consumer.stop();
    assert.deepEqual(letters.map((l) => l.errorCode).sort(), poison.map((p) => p.expectedCode).sort());
  } finally {
    await Promise.all(running.map((r) => r.stop({ deadlineMs: 10_000 })));
  }
}

test('embedded default: ingest → normalize → curate on the disk log, filesystem lake and SQLite catalog', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cf-embedded-'));
  const app = await openApp(loadConfig({ env: {}, overrides: { dataDir: dir, 'workers.size': 2 } }), { logger: silentLogger });
  try {
    await exercise(app);
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('distributed: the same topologies over Kafka, the schema registry, S3 and the MongoDB wire protocol', { skip: servers ? false : 'CF_* server variables are not set (run through `npm test`)' }, async () => {
  const id = randomUUID().slice(0, 8);
  const config: Config = loadConfig({
    env: distributedEnv(`it-${id}`),
    overrides: { 'workers.size': 2 },
  });
  const app = await openApp(config, { logger: silentLogger });
  try {
    await exercise(app);
  } finally {
    await app.close();
  }
});
