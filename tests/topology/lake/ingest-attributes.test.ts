import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { ImageIngested, ImageNormalized } from '../../../schemas/generated/types.ts';
import { Topics } from '../../../schemas/topics.ts';
import { TopologyTestDriver } from '../../../runtime/engine/test-driver.ts';
import { InlinePool } from '../../../runtime/workers/piscina-pool.ts';
import { systemClock } from '../../../runtime/clock.ts';
import { createHttpServer } from '../../../runtime/http/server.ts';
import { createLogger } from '../../../runtime/logger.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { contentKey } from '../../../runtime/lake/object-keys.ts';
import { snapshotDataset } from '../../../runtime/lake/datasets.ts';
import { exportDatasetParquet, queryLake } from '../../../runtime/lake/lake-sql.ts';
import { ingestAttributesOf } from '../../../runtime/catalog/ingest-attributes.ts';
import { generateScene } from '../../../processors/synthetic/index.ts';
import { normalizeTopology } from '../../../topologies/normalize.ts';
import { curateTopology } from '../../../topologies/curate.ts';
import { objectRef } from '../../../topologies/lake-services.ts';
import type { IngestDeps } from '../../../topologies/ingest.ts';
import { DEFAULT_INGEST_LIMITS, registerIngestRoutes } from '../../../services/ingest/routes.ts';
import { importDataset } from '../../../services/import/importer.ts';
import { multipartBody } from '../../unit/services/ingest/multipart-body.ts';
import { tempLake } from './harness.ts';

const KEY = 'attr-test-key';

test('the attributes an image arrives with reach the catalog and the gold table through every door; a capture location only when allowed', async () => {
  const lake = await tempLake();
  const pool = new InlinePool();
  const normalize = new TopologyTestDriver(normalizeTopology, { deps: lake.deps, serde: lake.serde, pool });
  const curate = new TopologyTestDriver(curateTopology, { deps: lake.deps, serde: lake.serde, pool });
  const dir = mkdtempSync(join(tmpdir(), 'cf-attrs-'));
  const servers: ReturnType<typeof createHttpServer>[] = [];
  try {
    await normalize.start();
    const producer = await normalize.log.producer();
    const base: IngestDeps = {
      objects: lake.deps.objects,
      bucket: 'lake',
      producer,
      serde: lake.serde,
      clock: systemClock,
      maxBytes: 10_000_000,
    };
    const serve = async (ingest: IngestDeps) => {
      const app = createHttpServer({
        logger: createLogger({ level: 'silent' }),
        metrics: new Metrics(),
        apiKeys: [KEY],
      });
      await registerIngestRoutes(app, { ingest, catalog: lake.deps.catalog, limits: DEFAULT_INGEST_LIMITS });
      servers.push(app);
      return app;
    };
    const scenes = await Promise.all([21, 22, 23, 24, 25].map((s) => generateScene(s, { size: 128 })));
    const idOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

    // Door 1: upload with metadata.
    const http = await serve(base);
    const upload = multipartBody([
      { name: 'file', filename: 'a.png', data: scenes[0]!.image },
      { name: 'captions', value: JSON.stringify(['a red square on a field']) },
      { name: 'metadata', value: JSON.stringify({ licence: 'CC-BY-4.0', author: 'Ana' }) },
    ]);
    const up = await http.inject({
      method: 'POST',
      url: '/v1/images',
      payload: upload.payload,
      headers: { ...upload.headers, 'x-api-key': KEY },
    });
    assert.equal(up.statusCode, 202, up.body);

    // Door 2: mobile captures — location dropped by default, kept when the config allows it.
    const capture = async (app: typeof http, bytes: Uint8Array, id: string) => {
      const body = multipartBody([
        {
          name: 'metadata',
          value: JSON.stringify({
            clientCaptureId: id,
            deviceId: 'pixel-7',
            capturedAt: '2026-03-04T05:06:07.000Z',
            appVersion: '2.1.0',
            caption: 'a photo from the phone',
            location: { lat: 48.85, lon: 2.35, accuracyMeters: 12 },
          }),
        },
        { name: 'image', filename: 'IMG.jpg', data: bytes },
      ]);
      const res = await app.inject({
        method: 'POST',
        url: '/v1/captures',
        payload: body.payload,
        headers: { ...body.headers, 'x-api-key': KEY },
      });
      assert.ok(res.statusCode === 201 || res.statusCode === 202, res.body);
    };
    await capture(http, scenes[1]!.image, 'cap-1');
    await capture(await serve({ ...base, keepCaptureLocation: true }), scenes[2]!.image, 'cap-2');

    // Door 3: bulk import (COCO).
    mkdirSync(join(dir, 'images'));
    writeFileSync(join(dir, 'images', 'x.png'), scenes[3]!.image);
    writeFileSync(
      join(dir, 'coco.json'),
      JSON.stringify({
        images: [{ id: 7, file_name: 'x.png' }],
        annotations: [{ id: 1, image_id: 7, caption: 'an imported scene with shapes' }],
      }),
    );
    const imported = await importDataset({
      format: 'coco',
      annotations: join(dir, 'coco.json'),
      imagesDir: join(dir, 'images'),
      deps: base,
    });
    assert.equal(imported.failed.length, 0);

    // Door 4: an external producer publishes Avro with its own attribute keys (some the catalog cannot use as keys).
    const ext = scenes[4]!.image;
    const put = await lake.deps.objects.put(contentKey('bronze', idOf(ext), 'png'), ext, {
      contentType: 'image/png',
      sha256: idOf(ext),
    });
    const bronze = objectRef('bronze', 'lake', put, 'image/png');
    const event: ImageIngested = {
      eventId: '6f1d1c1e-0000-4000-8000-000000000001',
      imageId: idOf(ext),
      occurredAt: Date.now(),
      object: bronze,
      originalFilename: null,
      captions: [{ text: 'a partner image of a scene', origin: 'human', modelVersion: null, language: 'en' }],
      producer: 'partner-x',
      externalId: 'px-1',
      importBatchId: null,
      attributes: { partnerRef: 'px-1', 'dc:creator': 'Bo', 'a.b': 'c' },
      lineage: {
        ingestEventId: '6f1d1c1e-0000-4000-8000-000000000001',
        source: 'external',
        hops: [],
        objects: [bronze],
      },
    };
    await producer.send([
      {
        topic: Topics.imageIngested.name,
        key: event.imageId,
        value: await lake.serde.encode(Topics.imageIngested.name, event),
      },
    ]);

    await normalize.settle();
    assert.deepEqual(await normalize.deadLetters(), []);
    const normalized = (await normalize.read<ImageNormalized>(Topics.imageNormalized.name)).map(
      (r) => r.value,
    );
    assert.equal(normalized.length, 5);
    await curate.start();
    const curateProducer = await curate.log.producer();
    for (const n of normalized)
      await curateProducer.send([
        {
          topic: Topics.imageNormalized.name,
          key: n.imageId,
          value: await lake.serde.encode(Topics.imageNormalized.name, n),
        },
      ]);
    await curate.settle();

    const expected: Record<string, Record<string, string>> = {
      [idOf(scenes[0]!.image)]: { licence: 'CC-BY-4.0', author: 'Ana' },
      [idOf(scenes[1]!.image)]: {
        deviceId: 'pixel-7',
        capturedAt: '2026-03-04T05:06:07.000Z',
        appVersion: '2.1.0',
      },
      [idOf(scenes[2]!.image)]: {
        deviceId: 'pixel-7',
        capturedAt: '2026-03-04T05:06:07.000Z',
        appVersion: '2.1.0',
        locationLat: '48.85',
        locationLon: '2.35',
        locationAccuracyMeters: '12',
      },
      [idOf(scenes[3]!.image)]: { datasetFormat: 'coco', datasetImageId: '7', datasetPath: 'x.png' },
      [idOf(ext)]: { partnerRef: 'px-1', 'dc:creator': 'Bo', 'a.b': 'c' },
    };
    for (const [id, attrs] of Object.entries(expected)) {
      const record = await lake.deps.catalog.images.get(id);
      assert.ok(record !== null, `catalog has ${id}`);
      assert.equal(record.status, 'curated', `${id} curated`);
      assert.deepEqual(ingestAttributesOf(record.attributes), attrs, `catalog attributes of ${id}`);
    }
    // Keys MongoDB could not store stay verbatim, as pairs.
    assert.deepEqual((await lake.deps.catalog.images.get(idOf(ext)))!.attributes['ingestOther'], [
      { key: 'a.b', value: 'c' },
      { key: 'dc:creator', value: 'Bo' },
    ]);

    // Gold: the dataset version's Parquet table carries them.
    const snap = await snapshotDataset(
      { store: lake.deps.objects, catalog: lake.deps.catalog },
      { name: 'attrs' },
    );
    assert.equal(snap.record.counts.total, 5);
    const parquet = join(dir, 'items.parquet');
    await exportDatasetParquet(
      { store: lake.deps.objects, catalog: lake.deps.catalog },
      snap.record.id,
      parquet,
    );
    const rows = await queryLake(
      "SELECT image_id, attributes['deviceId'] AS device, attributes['locationLat'] AS lat, attributes['dc:creator'] AS creator FROM items ORDER BY image_id",
      { tables: { items: parquet } },
    );
    const byId = new Map(rows.map((r) => [r['image_id'] as string, r]));
    assert.equal(byId.get(idOf(scenes[1]!.image))?.['device'], 'pixel-7');
    assert.equal(byId.get(idOf(scenes[1]!.image))?.['lat'], null, 'location off by default');
    assert.equal(byId.get(idOf(scenes[2]!.image))?.['lat'], '48.85');
    assert.equal(byId.get(idOf(ext))?.['creator'], 'Bo');
  } finally {
    for (const s of servers) await s.close();
    await curate.close();
    await normalize.close();
    await lake.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
