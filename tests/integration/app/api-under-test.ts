/**
 * The whole HTTP API of one embedded process, seeded, for tests that fuzz it from outside
 * (tests/integration/app/schemathesis.test.ts): `startSystem` on a temporary data dir with every
 * route (ingest doors, caption serving, the Query Data Service, admin), the tiny ONNX model of
 * tests/fixtures/onnx promoted and serving, a few synthetic scenes ingested through to gold and a
 * poison image dead-lettered, two dataset versions snapshotted, so the lake routes answer with data. The scheduler does not run
 * (a fuzzer must not start a retrain by the clock).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../fixtures/child-process.ts';
import { startSystem, type RunningSystem } from '../../../app/system.ts';
import { ingestDeps } from '../../../app/pipeline-job.ts';
import { ingestImage } from '../../../topologies/ingest.ts';
import { snapshotDataset } from '../../../runtime/lake/datasets.ts';
import { generateScene } from '../../../processors/synthetic/index.ts';
import { makeImageCorpus } from '../../fixtures/bad-input/make-corpus.ts';
import { multipartBody, servingFixture, solidPng, type ServingFixture } from '../serving/serving-fixture.ts';

/** The admin key of the API under test (`x-api-key`). */
export const ADMIN_KEY = 'schemathesis-admin';

/** A running, seeded API. */
export interface ApiUnderTest {
  readonly url: string;
  readonly fixture: ServingFixture;
  readonly system: RunningSystem;
  /** Ids that exist after seeding, for a fuzzer to reach past 404 (gold images, two dataset versions, dead letters). */
  readonly ids: {
    readonly images: readonly string[];
    readonly datasets: readonly string[];
    readonly deadLetters: readonly string[];
    /** The model version that serves (alias `champion`). */
    readonly models: readonly string[];
  };
  close(): Promise<void>;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Start and seed the API (on a free loopback port). */
export async function startApiUnderTest(): Promise<ApiUnderTest> {
  const fixture = await servingFixture({ 'http.apiKeys': [ADMIN_KEY], 'http.port': await freePort() });
  let system: RunningSystem | undefined;
  try {
    await fixture.promote(fixture.v1, 0.1);
    system = await startSystem(fixture.app, { scheduler: false });
    const url = system.url;
    // Serving answers once model.promoted has been read and the model warmed up.
    const { body, contentType } = multipartBody([await solidPng(200, 30, 30)]);
    await until('the champion serving', async () => {
      const res = await fetch(`${url}/v1/captions`, {
        method: 'POST',
        headers: { 'content-type': contentType, 'x-api-key': ADMIN_KEY },
        body,
      });
      await res.arrayBuffer();
      return res.status === 200;
    });
    const { app } = fixture;
    const producer = await app.log.producer();
    const deps = ingestDeps(app, producer);
    const scenes = await Promise.all([31, 32, 33, 34].map((s) => generateScene(s, { size: 96 })));
    for (const s of scenes)
      await ingestImage(deps, {
        bytes: s.image,
        source: 'bulk',
        producer: 'schemathesis',
        externalId: s.id,
        captions: s.captions.map((text) => ({ text })),
      });
    let poisoned = 0;
    for (const c of (await makeImageCorpus()).filter(
      (x) => x.options === undefined && x.expectedCode !== null,
    )) {
      try {
        await ingestImage(deps, { bytes: c.bytes, source: 'upload', producer: 'schemathesis' });
        poisoned++;
        break;
      } catch {
        // refused at the door: try the next one
      }
    }
    await producer.close();
    await until('the scenes in gold and the poison image dead-lettered', async () => {
      const layers = await app.catalog.images.countBy('layer');
      const letters = Object.values(await app.catalog.deadLetters.countOpenByCode()).reduce(
        (a, b) => a + b,
        0,
      );
      return (layers['gold'] ?? 0) === scenes.length && letters >= poisoned;
    });
    // Two versions (all splits, train only) so that a diff has something to say.
    const lake = { store: app.objects, catalog: app.catalog };
    const datasets = [
      (await snapshotDataset(lake, { name: 'schemathesis' })).record.id,
      (await snapshotDataset(lake, { name: 'schemathesis-train', filter: { splits: ['train'] } })).record.id,
    ];
    const images = (await app.catalog.images.list({ layer: 'gold' }, { limit: 100 })).items.map((i) => i.id);
    const deadLetters = (await app.catalog.deadLetters.list({ state: 'all' }, { limit: 100 })).items.map(
      (d) => d.id,
    );
    const running = system;
    return {
      url,
      fixture,
      system: running,
      ids: { images, datasets: [...new Set(datasets)], deadLetters, models: [fixture.v1] },
      close: async () => {
        await running.stop();
        await fixture.close();
      },
    };
  } catch (err) {
    await system?.stop();
    await fixture.close();
    throw err;
  }
}
