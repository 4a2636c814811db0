/**
 * A Query Data Service on a seeded lake and an in-memory log. The lake is the embedded default
 * (fs objects + SQLite catalog in a temp directory) unless a {@link LakeFactory} is given (the
 * integration tier passes S3 + MongoDB wire).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../../../runtime/http/server.ts';
import { createLogger } from '../../../../runtime/logger.ts';
import { Metrics } from '../../../../runtime/metrics.ts';
import { systemClock } from '../../../../runtime/clock.ts';
import { createMemoryLog } from '../../../../runtime/log/memory-log.ts';
import type { LocalEventLog } from '../../../../runtime/log/local-log.ts';
import { openSqliteCatalog } from '../../../../runtime/catalog/sqlite-catalog.ts';
import { openFsObjectStore } from '../../../../runtime/lake/fs-object-store.ts';
import type { Lake } from '../../../../runtime/lake/lake.ts';
import type { LakeFactory, LakeFixture } from '../../lake/lake-fixtures.ts';
import { contentKey } from '../../../../runtime/lake/object-keys.ts';
import { registerQueryRoutes } from '../../../../services/query/routes.ts';

/** Keys of each role (`admin-key` has no role suffix: admin, as before roles). */
export const KEYS = { read: 'read-key', write: 'write-key', admin: 'admin-key' } as const;

/** A seeded image. */
export interface Seeded {
  readonly id: string;
  readonly bytes: Buffer;
}

/** A running harness. */
export interface QueryHarness {
  readonly app: FastifyInstance;
  readonly lake: Lake;
  readonly log: LocalEventLog;
  readonly images: readonly Seeded[];
  close(): Promise<void>;
}

/** The embedded default: fs object store + SQLite catalog in a fresh temp directory. */
export const fsSqliteLake: LakeFactory = async ({ now }): Promise<LakeFixture> => {
  const dir = mkdtempSync(join(tmpdir(), 'cf-query-lake-'));
  const store = await openFsObjectStore({ root: join(dir, 'lake'), durable: false });
  const catalog = await openSqliteCatalog({ path: join(dir, 'catalog.sqlite'), now });
  return {
    store,
    catalog,
    async cleanup() {
      await store.close();
      await catalog.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

/** Seed `n` images: even ones curated (gold, split train/val by index), odd ones rejected; one caption each (every third machine-made). */
export async function queryHarness(n = 9, factory: LakeFactory = fsSqliteLake): Promise<QueryHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'cf-query-'));
  const fixture = await factory({ now: () => new Date() });
  const { store, catalog } = fixture;
  const lake: Lake = { store, catalog };
  const log = createMemoryLog();
  const images: Seeded[] = [];
  for (let i = 0; i < n; i++) {
    const bytes = Buffer.from(`\x89PNG fake image ${i} ${'x'.repeat(100)}`);
    const id = createHash('sha256').update(bytes).digest('hex');
    const put = await store.put(contentKey('bronze', id, 'png'), bytes, {
      contentType: 'image/png',
      sha256: id,
    });
    const thumbBytes = Buffer.from(`thumb ${i}`);
    const thumbSha = createHash('sha256').update(thumbBytes).digest('hex');
    const thumb = await store.put(contentKey('silver', thumbSha, 'webp'), thumbBytes, { sha256: thumbSha });
    const ref = (layer: 'bronze' | 'silver', p: typeof put) => ({
      layer,
      bucket: 'lake',
      key: p.key,
      sha256: p.sha256,
      size: p.size,
      versionId: p.versionId,
    });
    const curated = i % 2 === 0;
    await catalog.images.upsert({
      id,
      source: i < 5 ? 'upload' : 'mobile',
      layer: curated ? 'gold' : 'silver',
      status: curated ? 'curated' : 'rejected',
      split: curated ? (i % 4 === 0 ? 'train' : 'val') : null,
      objects: { bronze: ref('bronze', put), ...(curated ? { gold: ref('bronze', put) } : {}) },
      quality: i * 10,
      curatedAt: curated ? new Date(Date.parse('2026-01-01T00:00:00Z') + i * 1000).toISOString() : null,
      lineage: {
        ingestEventId: `e${i}`,
        source: 'upload',
        objects: [ref('bronze', put), ref('silver', thumb)],
      },
      attributes: { ingest: { deviceId: i % 3 === 0 ? 'pixel-7' : 'iphone' } },
    });
    await catalog.captions.upsert({
      imageId: id,
      text: `caption number ${i}`,
      origin: i % 3 === 0 ? 'machine' : 'human',
      modelVersion: i % 3 === 0 ? 'captioner-v1' : null,
    });
    images.push({ id, bytes });
  }
  const producer = await log.producer();
  const app = createHttpServer({
    logger: createLogger({ level: 'silent' }),
    metrics: new Metrics(),
    apiKeys: [`${KEYS.read}:read`, `${KEYS.write}:write`, KEYS.admin],
  });
  registerQueryRoutes(app, {
    lake,
    producer,
    clock: systemClock,
    cacheDir: join(dir, 'cache'),
    changesLagMs: 0,
    sql: { timeoutMs: 2_000 },
  });
  return {
    app,
    lake,
    log,
    images,
    async close() {
      await app.close();
      await producer.close();
      await log.close();
      await fixture.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
