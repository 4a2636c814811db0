/**
 * An object-store outage mid-pipeline, on the real servers: the S3 server is reached through a
 * TCP proxy the test cuts (connections refused, open ones reset) and restores. The normalize
 * topology must wait the outage out — paused, retrying, dead-lettering nothing — and finish every
 * image once S3 is back. (The proxy stands in for the server: the shared S3 server itself keeps
 * serving the tests that run beside this one.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { loadConfig } from '../../../runtime/config.ts';
import { openApp } from '../../../app/app.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { waitForCatchUp } from '../../../runtime/engine/lag.ts';
import { DEPENDENCY_UNAVAILABLE } from '../../../runtime/engine/runner.ts';
import { ingestDeps } from '../../../app/pipeline-job.ts';
import { startTopologies } from '../../../app/pipeline.ts';
import { ingestImage } from '../../../topologies/ingest.ts';
import { generateScene } from '../../../processors/synthetic/index.ts';
import { deferrer } from '../../fixtures/defer.ts';
import { distributedEnv } from '../../integration/services/service-env.ts';

const env = process.env;
const servers = env.CF_KAFKA_BROKERS !== undefined && env.CF_SCHEMA_REGISTRY_URL !== undefined && env.CF_S3_ENDPOINT !== undefined && env.CF_MONGO_URL !== undefined;

/** A TCP forwarder on 127.0.0.1 that can be cut (refuse and reset) and restored on the same port. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

test('normalize waits out an S3 outage (paused, nothing dead-lettered) and finishes every image once it is back', { skip: servers ? false : 'CF_* server variables are not set (run through `npm test`)' }, async (t) => {
  const defer = deferrer(t);
  const s3 = new URL(env.CF_S3_ENDPOINT!);
  const proxy = new CuttableProxy({ host: s3.hostname, port: Number(s3.port) });
  await proxy.up();
  defer(() => proxy.down());
  const id = randomUUID().slice(0, 8);
  const app = await openApp(
    loadConfig({
      env: distributedEnv(`outage-${id}`, { CAPTIONFLOW_S3_ENDPOINT: `http://127.0.0.1:${proxy.port}` }),
      overrides: { 'workers.size': 2 },
    }),
    { logger: silentLogger },
  );
  defer(() => app.close());

  // Ingest while S3 is up (the door writes bronze), then cut it before the topologies start.
  const producer = await app.log.producer();
  const scenes = await Promise.all([21, 22, 23, 24, 25].map((s) => generateScene(s, { size: 96 })));
  for (const s of scenes) await ingestImage(ingestDeps(app, producer), { bytes: s.image, source: 'bulk', producer: 'outage-test', externalId: s.id, captions: s.captions.map((text) => ({ text })) });
  await producer.close();
  await proxy.down();

  const running = await startTopologies(app);
  defer(() => Promise.all(running.map((r) => r.stop({ deadlineMs: 10_000 }))));
  const normalize = running.find((r) => r.name === 'normalize')!;
  for (let i = 0; i < 600 && !normalize.pausedFor.includes(DEPENDENCY_UNAVAILABLE); i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(normalize.pausedFor, [DEPENDENCY_UNAVAILABLE], 'normalize paused for the object store');
  // Longer than normalize's five attempts with the object store's own retries inside each.
  await new Promise((r) => setTimeout(r, 8_000));
  assert.deepEqual(normalize.pausedFor, [DEPENDENCY_UNAVAILABLE], 'still waiting, not given up');
  assert.equal(await app.metrics.recordCount({ topology: 'normalize', outcome: 'dead_letter' }), 0, 'nothing dead-lettered during the outage');
  assert.ok((await app.metrics.recordCount({ topology: 'normalize', outcome: 'retry' })) > 5, 'retried past the attempts');

  await proxy.up();
  await waitForCatchUp(
    app.log,
    [
      { group: app.topics.topic('captionflow-normalize'), topic: app.topics.topic('image.ingested') },
      { group: app.topics.topic('captionflow-curate'), topic: app.topics.topic('image.normalized') },
    ],
    { timeoutMs: 180_000 },
  );
  assert.deepEqual(normalize.pausedFor, []);
  const curated = await app.catalog.images.list({ status: 'curated' }, { limit: 100 });
  assert.equal(curated.items.length, scenes.length, 'every image curated once S3 was back');
  assert.equal(await app.metrics.recordCount({ topology: 'normalize', outcome: 'dead_letter' }), 0);
  assert.equal(await app.metrics.recordCount({ topology: 'curate', outcome: 'dead_letter' }), 0);
});
