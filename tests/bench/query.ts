/**
 * Benchmark: the Query Data Service's two hot reads at catalog scale, on the SQLite catalog and
 * on FerretDB (MongoDB wire), each as a ratio against a direct driver query of the same data
 * (better-sqlite3 / the mongodb driver) measured in the same rounds:
 *  - the items list with a filter (`status=curated&split=train`) walked to the end by cursor
 *    pages (`GET /v1/lake/items`), captions included;
 *  - the watermark feed (`GET /v1/lake/changes`) walked from the start to the end.
 * Three rows per read: the bare driver (baseline), the catalog repository the routes call, and
 * the route itself through Fastify's inject (JSON out). Before the figures it prints the plan of
 * each statement (SQLite `EXPLAIN QUERY PLAN`, MongoDB `explain()`), naming the index used.
 *
 * The catalog is seeded by cloning one record written through the catalog (so the stored shape is
 * the adapter's own) with the driver: N images (a quarter curated+train) with one caption each.
 * N = 10 000, or 100 000 with CAPTIONFLOW_BENCH_FULL=1. FerretDB needs CF_MONGO_URL (skipped
 * without). Prints figures only; never asserts on them.
 *
 * Run: `npx tsx tests/bench/query.ts [--rounds N]` (CAPTIONFLOW_BENCH_FULL=1 for 100 000 items).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MongoClient, type Document } from 'mongodb';
import type { FastifyInstance } from 'fastify';
import type { Catalog } from '../../runtime/catalog/catalog.ts';
import { openSqliteCatalog } from '../../runtime/catalog/sqlite-catalog.ts';
import { dropMongoCatalogDatabase, openMongoCatalog } from '../../runtime/catalog/mongo-catalog.ts';
import { openFsObjectStore } from '../../runtime/lake/fs-object-store.ts';
import type { Lake } from '../../runtime/lake/lake.ts';
import { createHttpServer } from '../../runtime/http/server.ts';
import { createLogger } from '../../runtime/logger.ts';
import { Metrics } from '../../runtime/metrics.ts';
import { systemClock } from '../../runtime/clock.ts';
import { registerQueryRoutes } from '../../services/query/routes.ts';
import { FULL, Samples, loadLine, report, roundsArg, timed, type Row } from './harness.ts';

const N = FULL ? 100_000 : 10_000;
/**
 * FerretDB 1.24 pushes equality filters down to PostgreSQL (the local server's backend) but no
 * range, `$in`, sort or limit, so a page reads every row its equality filters leave (the changes
 * feed's range filter: the whole collection) and sorts them in FerretDB: its size is its own
 * (`CAPTIONFLOW_BENCH_QUERY_MONGO_N`, default 2 000, N with FULL) and its walks stop after
 * `CAPTIONFLOW_BENCH_QUERY_MONGO_PAGES` pages (default 3).
 */
const MONGO_N = Number(process.env.CAPTIONFLOW_BENCH_QUERY_MONGO_N ?? (FULL ? N : 2_000));
const MONGO_PAGES = Number(process.env.CAPTIONFLOW_BENCH_QUERY_MONGO_PAGES ?? 3);
const ROUNDS = roundsArg(3);
/** Page sizes: the items route's largest page, the changes route's largest page. */
const ITEMS_PAGE = 500;
const CHANGES_PAGE = 1000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

/** What varies per seeded image; ties of three on updatedAt exercise the (updatedAt, id) keyset. */
function seedFields(i: number): Record<string, unknown> {
  const curated = i % 4 < 2;
  const at = new Date(T0 + Math.floor(i / 3)).toISOString();
  return {
    id: createHash('sha256').update(`image ${i}`).digest('hex'),
    status: curated ? 'curated' : i % 4 === 2 ? 'rejected' : 'normalized',
    layer: curated ? 'gold' : 'silver',
    split: curated ? (i % 8 < 2 ? 'train' : 'val') : null,
    source: i % 5 === 0 ? 'mobile' : 'upload',
    quality: i % 100,
    createdAt: at,
    updatedAt: at,
    curatedAt: curated ? at : null,
  };
}

/** One read walked to the end, or for at most `maxPages` pages: returns the number of items it saw. */
type Walk = (maxPages: number) => Promise<number>;

interface Backend {
  readonly label: string;
  readonly catalog: Catalog;
  /** Items in the catalog. */
  readonly n: number;
  /** Pages each walk reads at most (FerretDB scans per page: see the header). */
  readonly maxPages: number;
  /** The driver's page of curated+train images after `after`, with their captions (parsed). */
  readonly driverItems: Walk;
  readonly driverChanges: Walk;
  /** Print the plans of the statements the adapter and the driver issue. */
  explain(): Promise<void>;
  close(): Promise<void>;
}

function queryApp(catalog: Catalog, dir: string): Promise<FastifyInstance> {
  return (async () => {
    const store = await openFsObjectStore({ root: join(dir, 'lake'), durable: false });
    const lake: Lake = { store, catalog };
    const app = createHttpServer({
      logger: createLogger({ level: 'silent' }),
      metrics: new Metrics(),
      apiKeys: ['bench:read'],
    });
    registerQueryRoutes(app, { lake, clock: systemClock, cacheDir: join(dir, 'cache'), changesLagMs: 0 });
    app.addHook('onClose', () => store.close());
    await app.ready();
    return app;
  })();
}

async function routeWalk(
  app: FastifyInstance,
  path: string,
  cursorParam: string,
  maxPages: number,
): Promise<number> {
  let seen = 0;
  let cursor: string | null = null;
  for (let p = 0; p < maxPages; p++) {
    const url: string = `${path}${cursor === null ? '' : `&${cursorParam}=${encodeURIComponent(cursor)}`}`;
    const res = await app.inject({ method: 'GET', url, headers: { 'x-api-key': 'bench' } });
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    const page = res.json<{ items: unknown[]; next: string | null; more?: boolean }>();
    seen += page.items.length;
    if (cursorParam === 'since' ? page.items.length === 0 : page.next === null) return seen;
    cursor = page.next;
  }
  return seen;
}

async function catalogItems(catalog: Catalog, maxPages: number): Promise<number> {
  let seen = 0;
  let after: string | undefined;
  for (let p = 0; p < maxPages; p++) {
    const page = await catalog.images.list(
      { status: 'curated', split: 'train' },
      { limit: ITEMS_PAGE, ...(after === undefined ? {} : { after }) },
    );
    const captions = await catalog.captions.byImages(page.items.map((i) => i.id));
    seen += page.items.length + 0 * captions.size;
    if (page.next === null) return seen;
    after = page.next;
  }
  return seen;
}

async function catalogChanges(catalog: Catalog, maxPages: number): Promise<number> {
  let seen = 0;
  let after: { updatedAt: string; id: string } | null = null;
  const until = new Date().toISOString();
  for (let p = 0; p < maxPages; p++) {
    const rows = await catalog.images.listUpdated(after, until, CHANGES_PAGE);
    const captions = await catalog.captions.byImages(rows.map((r) => r.id));
    seen += rows.length + 0 * captions.size;
    const last = rows[rows.length - 1];
    if (last === undefined) return seen;
    after = { updatedAt: last.updatedAt, id: last.id };
  }
  return seen;
}

async function sqliteBackend(dir: string): Promise<Backend> {
  const path = join(dir, 'catalog.sqlite');
  const catalog = await openSqliteCatalog({ path });
  const template = await seedTemplate(catalog);
  const db = new Database(path);
  const image = db.prepare('SELECT doc FROM images WHERE id = ?').get(template.imageId) as { doc: string };
  const caption = db.prepare('SELECT doc FROM captions WHERE id = ?').get(template.captionId) as {
    doc: string;
  };
  const imageDoc = JSON.parse(image.doc) as Record<string, unknown>;
  const captionDoc = JSON.parse(caption.doc) as Record<string, unknown>;
  const insImage = db.prepare('INSERT INTO images (id, rev, hash, doc) VALUES (?, 1, ?, ?)');
  const insCaption = db.prepare('INSERT INTO captions (id, rev, hash, doc) VALUES (?, 1, ?, ?)');
  db.transaction(() => {
    db.prepare('DELETE FROM images').run();
    db.prepare('DELETE FROM captions').run();
    for (let i = 0; i < N; i++) {
      const f = seedFields(i);
      const id = f.id as string;
      insImage.run(id, 'h', JSON.stringify({ ...imageDoc, ...f }));
      const cid = randomBytes(16).toString('hex');
      insCaption.run(cid, 'h', JSON.stringify({ ...captionDoc, id: cid, imageId: id, text: `caption ${i}` }));
    }
  })();
  db.pragma('optimize');

  // The statements as sqlite-catalog.ts issues them (images.list → findPage; listUpdated; byImages).
  const adapterList =
    'SELECT id, rev, hash, doc FROM "images" WHERE "f_status" = ? AND "f_split" = ? AND id > ? ORDER BY id ASC LIMIT ?';
  const adapterUpdated =
    'SELECT id, rev, hash, doc FROM "images" WHERE "f_updatedAt" >= ? AND "f_updatedAt" < ? ORDER BY "f_updatedAt" ASC, id ASC LIMIT ?';
  // What one writes by hand with the driver: the same keyset pages on the indexed columns, row
  // values for (updatedAt, id).
  const driverListIndexed = db.prepare(
    "SELECT id, doc FROM images WHERE f_status = 'curated' AND f_split = 'train' AND id > ? ORDER BY id LIMIT ?",
  );
  const driverChanges = db.prepare(
    'SELECT id, doc FROM images WHERE (f_updatedAt, id) > (?, ?) AND f_updatedAt < ? ORDER BY f_updatedAt, id LIMIT ?',
  );
  const captionsOf = (n: number) =>
    db.prepare(`SELECT doc FROM captions WHERE f_imageId IN (${Array(n).fill('?').join(', ')})`);
  const captionStmts = new Map<number, ReturnType<typeof captionsOf>>();
  const captions = (ids: string[]): unknown[] => {
    if (ids.length === 0) return [];
    let s = captionStmts.get(ids.length);
    if (s === undefined) captionStmts.set(ids.length, (s = captionsOf(ids.length)));
    return (s.all(...ids) as { doc: string }[]).map((r) => JSON.parse(r.doc) as unknown);
  };
  return {
    label: 'sqlite',
    catalog,
    n: N,
    maxPages: Number.POSITIVE_INFINITY,
    driverItems: (maxPages) => {
      let seen = 0;
      let after = '';
      for (let p = 0; p < maxPages; p++) {
        const rows = driverListIndexed.all(after, ITEMS_PAGE) as { id: string; doc: string }[];
        rows.forEach((r) => JSON.parse(r.doc) as unknown);
        captions(rows.map((r) => r.id));
        seen += rows.length;
        if (rows.length < ITEMS_PAGE) return Promise.resolve(seen);
        after = rows[rows.length - 1]!.id;
      }
      return Promise.resolve(seen);
    },
    driverChanges: (maxPages) => {
      let seen = 0;
      let at = '';
      let after = '';
      const until = new Date().toISOString();
      for (let p = 0; p < maxPages; p++) {
        const rows = driverChanges.all(at, after, until, CHANGES_PAGE) as { id: string; doc: string }[];
        const docs = rows.map((r) => JSON.parse(r.doc) as { updatedAt: string });
        captions(rows.map((r) => r.id));
        seen += rows.length;
        if (rows.length < CHANGES_PAGE) return Promise.resolve(seen);
        at = docs[docs.length - 1]!.updatedAt;
        after = rows[rows.length - 1]!.id;
      }
      return Promise.resolve(seen);
    },
    explain() {
      const plan = (sql: string, ...params: unknown[]): string =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[])
          .map((r) => r.detail)
          .join(' | ');
      const mid = seedFields(Math.floor(N / 2));
      console.log('sqlite plans (EXPLAIN QUERY PLAN):');
      console.log(
        `  adapter images.list(status, split):   ${plan(adapterList, 'curated', 'train', '', 501)}`,
      );
      console.log(
        `  adapter images.listUpdated:           ${plan(adapterUpdated, mid.updatedAt, '9999', 1001)}`,
      );
      console.log(
        `  adapter captions.byImages:            ${plan('SELECT id, rev, hash, doc FROM "captions" WHERE "f_imageId" IN (?, ?) ORDER BY id ASC', 'a', 'b')}`,
      );
      console.log(
        `  driver  list (indexed columns):       ${plan('SELECT id, doc FROM images WHERE f_status = ? AND f_split = ? AND id > ? ORDER BY id LIMIT ?', 'curated', 'train', '', 500)}`,
      );
      console.log(
        `  driver  changes (row-value keyset):   ${plan('SELECT id, doc FROM images WHERE (f_updatedAt, id) > (?, ?) AND f_updatedAt < ? ORDER BY f_updatedAt, id LIMIT ?', mid.updatedAt, '', '9999', 1000)}`,
      );
      return Promise.resolve();
    },
    async close() {
      db.close();
      await catalog.close();
    },
  };
}

async function mongoBackend(url: string): Promise<Backend> {
  const dbName = `cf_bench_query_${randomBytes(4).toString('hex')}`;
  const catalog = await openMongoCatalog({ url, dbName });
  const template = await seedTemplate(catalog);
  const client = new MongoClient(url, { retryWrites: false });
  await client.connect();
  const db = client.db(dbName);
  const images = db.collection<Document & { _id: string }>('images');
  const captionsColl = db.collection<Document & { _id: string }>('captions');
  const imageDoc = (await images.findOne({ _id: template.imageId })) as Document;
  const captionDoc = (await captionsColl.findOne({ _id: template.captionId })) as Document;
  await images.deleteMany({});
  await captionsColl.deleteMany({});
  const BATCH = 2000;
  for (let from = 0; from < MONGO_N; from += BATCH) {
    const imgs: Document[] = [];
    const caps: Document[] = [];
    for (let i = from; i < Math.min(MONGO_N, from + BATCH); i++) {
      const { id, ...f } = seedFields(i);
      imgs.push({ ...imageDoc, ...f, _id: id });
      caps.push({ ...captionDoc, _id: randomBytes(16).toString('hex'), imageId: id, text: `caption ${i}` });
    }
    await images.insertMany(imgs as never[], { ordered: false });
    await captionsColl.insertMany(caps as never[], { ordered: false });
  }
  const listFilter = (after: string) => ({ status: 'curated', split: 'train', _id: { $gt: after } });
  const changesFilter = (at: string, after: string, until: string) => ({
    updatedAt: { $lt: until },
    $or: [{ updatedAt: { $gt: at } }, { updatedAt: at, _id: { $gt: after } }],
  });
  const captions = async (ids: string[]) =>
    ids.length === 0 ? [] : captionsColl.find({ imageId: { $in: ids } }).toArray();
  return {
    label: 'ferretdb',
    catalog,
    n: MONGO_N,
    maxPages: MONGO_PAGES,
    async driverItems(maxPages) {
      let seen = 0;
      let after = '';
      for (let p = 0; p < maxPages; p++) {
        const rows = await images
          .find(listFilter(after) as never)
          .sort({ _id: 1 })
          .limit(ITEMS_PAGE)
          .toArray();
        await captions(rows.map((r) => r._id));
        seen += rows.length;
        if (rows.length < ITEMS_PAGE) return seen;
        after = rows[rows.length - 1]!._id;
      }
      return seen;
    },
    async driverChanges(maxPages) {
      let seen = 0;
      let at = '';
      let after = '';
      const until = new Date().toISOString();
      for (let p = 0; p < maxPages; p++) {
        const rows = await images
          .find(changesFilter(at, after, until) as never)
          .sort({ updatedAt: 1, _id: 1 })
          .limit(CHANGES_PAGE)
          .toArray();
        await captions(rows.map((r) => r._id));
        seen += rows.length;
        if (rows.length < CHANGES_PAGE) return seen;
        at = rows[rows.length - 1]!.updatedAt as string;
        after = rows[rows.length - 1]!._id;
      }
      return seen;
    },
    async explain() {
      const mid = seedFields(Math.floor(MONGO_N / 2));
      const summary = (e: Document): string => {
        const qp = (e.queryPlanner ?? {}) as Document;
        const flags = ['pushdown', 'sortPushdown', 'limitPushdown', 'unsafeSortPushdown']
          .filter((k) => k in e)
          .map((k) => `${k}=${String(e[k])}`)
          .join(' ');
        const plan = JSON.stringify(qp.Plan ?? qp.winningPlan ?? qp).slice(0, 400);
        return `${flags} ${plan}`;
      };
      console.log('ferretdb plans (explain):');
      const indexes = (await images.listIndexes().toArray()).map(
        (i: Document) => `${String(i['name'])} ${JSON.stringify(i['key'])}`,
      );
      console.log(`  images indexes: ${indexes.join('; ')}`);
      console.log(
        `  adapter/driver list(status, split) by _id: ${summary(
          await images
            .find(listFilter('') as never)
            .sort({ _id: 1 })
            .limit(501)
            .explain(),
        )}`,
      );
      console.log(
        `  adapter listUpdated (updatedAt range, sort updatedAt,_id): ${summary(
          await images
            .find({ updatedAt: { $gte: mid.updatedAt, $lt: '9999' } } as never)
            .sort({ updatedAt: 1, _id: 1 })
            .limit(1001)
            .explain(),
        )}`,
      );
      console.log(
        `  driver changes ($or keyset): ${summary(
          await images
            .find(changesFilter(mid.updatedAt as string, '', '9999') as never)
            .sort({ updatedAt: 1, _id: 1 })
            .limit(1000)
            .explain(),
        )}`,
      );
      console.log(
        `  captions by imageId $in: ${summary(await captionsColl.find({ imageId: { $in: ['a', 'b'] } }).explain())}`,
      );
    },
    async close() {
      await client.close();
      await catalog.close();
      await dropMongoCatalogDatabase(url, dbName);
    },
  };
}

/** One image and caption written through the catalog, whose stored documents the seed clones. */
async function seedTemplate(catalog: Catalog): Promise<{ imageId: string; captionId: string }> {
  const imageId = 'f'.repeat(64);
  const ref = {
    layer: 'bronze' as const,
    bucket: 'lake',
    key: `bronze/ff/${imageId}.jpg`,
    sha256: imageId,
    size: 1000,
    versionId: null,
  };
  await catalog.images.upsert({
    id: imageId,
    source: 'upload',
    layer: 'gold',
    status: 'curated',
    split: 'train',
    width: 640,
    height: 480,
    format: 'jpeg',
    quality: 50,
    objects: { bronze: ref, gold: ref },
    curatedAt: new Date(T0).toISOString(),
    lineage: { ingestEventId: 'e', source: 'upload', objects: [ref] },
    attributes: { ingest: { deviceId: 'pixel-7' } },
  });
  const caption = await catalog.captions.upsert({ imageId, text: 'a caption', origin: 'human' });
  return { imageId, captionId: caption.record.id };
}

async function bench(backend: Backend, dir: string): Promise<void> {
  const app = await queryApp(backend.catalog, dir);
  try {
    await backend.explain();
    const walks: [string, string, Walk][] = [
      ['items: driver (baseline)', 'items', backend.driverItems],
      ['items: catalog images.list + captions', 'items', (p) => catalogItems(backend.catalog, p)],
      [
        'items: GET /v1/lake/items',
        'items',
        (p) => routeWalk(app, `/v1/lake/items?status=curated&split=train&limit=${ITEMS_PAGE}`, 'cursor', p),
      ],
      ['changes: driver (baseline)', 'changes', backend.driverChanges],
      ['changes: catalog listUpdated + captions', 'changes', (p) => catalogChanges(backend.catalog, p)],
      [
        'changes: GET /v1/lake/changes',
        'changes',
        (p) => routeWalk(app, `/v1/lake/changes?limit=${CHANGES_PAGE}`, 'since', p),
      ],
    ];
    const samples = new Samples();
    const counts = new Map<string, number>();
    for (const [name, , walk] of walks) counts.set(name, await walk(backend.maxPages)); // warm-up, and the count each walk sees
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, , walk] of walks)
        samples.add(name, await timed(async () => void (await walk(backend.maxPages))));
    }
    for (const kind of ['items', 'changes']) {
      const rows: Row[] = walks
        .filter(([, k]) => k === kind)
        .map(([name], i, all) => ({
          name,
          count: counts.get(name)!,
          seconds: samples.get(name),
          unit: 'items',
          ...(i === 0 ? {} : { baseline: all[0]![0] }),
        }));
      report(
        `${backend.label}: ${kind} walked to the end (${rows.map((r) => r.count).join(' / ')} items of ${backend.n}${Number.isFinite(backend.maxPages) ? `, first ${backend.maxPages} pages` : ''})`,
        rows,
      );
    }
  } finally {
    await app.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'cf-bench-query-'));
try {
  console.log(`query bench: ${N} catalog items, ${ROUNDS} rounds (${loadLine()})`);
  const started = Date.now();
  const sqlite = await sqliteBackend(dir);
  console.log(`sqlite seeded in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  try {
    await bench(sqlite, join(dir, 'sqlite-app'));
  } finally {
    await sqlite.close();
  }
  const mongoUrl = process.env.CF_MONGO_URL;
  if (mongoUrl === undefined || mongoUrl === '') {
    console.log('\nferretdb: skipped (set CF_MONGO_URL: deploy/services up prints it)');
  } else {
    const t = Date.now();
    const mongo = await mongoBackend(mongoUrl);
    console.log(`\nferretdb seeded in ${((Date.now() - t) / 1000).toFixed(1)}s`);
    try {
      await bench(mongo, join(dir, 'mongo-app'));
    } finally {
      await mongo.close();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
