/**
 * The Query Data Service routes as one suite, run on every lake deployment: the embedded default
 * (fs + SQLite, tests/unit/services/query/query-routes.test.ts) and the S3 server + MongoDB wire
 * (FerretDB, tests/integration/lake/query-routes-s3-mongo.test.ts), so both answer the same.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KEYS, queryHarness, type QueryHarness } from './query-harness.ts';
import { deadLetterEntry } from '../../../../topologies/dead-letters.ts';
import type { LakeFactory } from '../../lake/lake-fixtures.ts';
import { contentKey } from '../../../../runtime/lake/object-keys.ts';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getDataset } from '../../../../runtime/lake/datasets.ts';
import { exportWebDataset } from '../../../../runtime/lake/webdataset.ts';
import { readWebDataset } from '../../../fixtures/webdataset-reader.ts';

/** Register the query route suite on the lake `factory` builds (`skip`: the reason, e.g. servers not configured). */
export function runQueryRoutesSuite(
  label: string,
  factory: LakeFactory,
  options: { skip?: string } = {},
): void {
  describe(`query routes: ${label}`, { skip: options.skip ?? false }, () => {
    let h: QueryHarness;
    before(async () => {
      h = await queryHarness(9, factory);
    });
    after(async () => {
      await h?.close();
    });

    const get = async (url: string, key: string = KEYS.read, headers: Record<string, string> = {}) =>
      h.app.inject({ method: 'GET', url, headers: { 'x-api-key': key, ...headers } });
    const post = async (url: string, body: unknown, key: string = KEYS.admin) =>
      h.app.inject({ method: 'POST', url, payload: body as object, headers: { 'x-api-key': key } });
    type Items = {
      items: {
        id: string;
        status: string;
        split: string | null;
        attributes: Record<string, string>;
        captions: { origin: string }[];
      }[];
      next: string | null;
    };

    test('roles: a read key reads but cannot snapshot; a write key cannot replay; a key without a role is admin', async () => {
      assert.equal((await get('/v1/lake/items')).statusCode, 200);
      assert.equal((await get('/v1/lake/items', 'nope')).statusCode, 403);
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/lake/items' })).statusCode, 401);
      const denied = await post('/v1/lake/datasets', { name: 'x' }, KEYS.read);
      assert.equal(denied.statusCode, 403);
      assert.equal(denied.json<{ error: { code: string } }>().error.code, 'ROLE_INSUFFICIENT');
      assert.equal((await post('/v1/lake/dead-letters/replay', { filter: {} }, KEYS.write)).statusCode, 403);
      assert.equal((await post('/v1/lake/datasets', { name: 'roles' }, KEYS.admin)).statusCode, 201);
    });

    test('items: filters, cursor pages that cover every match once, sort', async () => {
      const all: string[] = [];
      let cursor: string | null = null;
      do {
        const page: Items = (
          await get(`/v1/lake/items?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`)
        ).json<Items>();
        all.push(...page.items.map((i) => i.id));
        cursor = page.next;
      } while (cursor !== null);
      assert.deepEqual(all, h.images.map((i) => i.id).sort());
      const desc = (await get('/v1/lake/items?sort=-id&limit=100')).json<Items>();
      assert.deepEqual(
        desc.items.map((i) => i.id),
        [...all].reverse(),
      );

      const curated = (await get('/v1/lake/items?status=curated&limit=100')).json<Items>();
      assert.equal(curated.items.length, 5);
      assert.ok(curated.items.every((i) => i.status === 'curated'));
      assert.equal((await get('/v1/lake/items?split=train&limit=100')).json<Items>().items.length, 3);
      assert.equal((await get('/v1/lake/items?split=none&limit=100')).json<Items>().items.length, 4);
      assert.equal((await get('/v1/lake/items?source=mobile&limit=100')).json<Items>().items.length, 4);
      assert.equal(
        (await get('/v1/lake/items?minQuality=40&maxQuality=60&limit=100')).json<Items>().items.length,
        3,
      );
      const machine = (await get('/v1/lake/items?captionOrigin=machine&limit=100')).json<Items>();
      assert.equal(machine.items.length, 3);
      assert.equal(
        (await get('/v1/lake/items?modelVersion=captioner-v1&limit=100')).json<Items>().items.length,
        3,
      );
      const device = (
        await get(`/v1/lake/items?attribute=${encodeURIComponent('deviceId=pixel-7')}&limit=100`)
      ).json<Items>();
      assert.deepEqual(
        device.items.map((i) => i.attributes['deviceId']),
        ['pixel-7', 'pixel-7', 'pixel-7'],
      );
      // Filtered pages of one still reach every match.
      const paged: string[] = [];
      cursor = null;
      do {
        const page: Items = (
          await get(`/v1/lake/items?status=rejected&limit=1${cursor === null ? '' : `&cursor=${cursor}`}`)
        ).json<Items>();
        paged.push(...page.items.map((i) => i.id));
        cursor = page.next;
      } while (cursor !== null);
      assert.equal(paged.length, 4);
      // Descending pages of one, filtered: every match once, in reverse id order, read through the index.
      const descPaged: string[] = [];
      cursor = null;
      do {
        const page: Items = (
          await get(
            `/v1/lake/items?status=curated&sort=-id&limit=1${cursor === null ? '' : `&cursor=${cursor}`}`,
          )
        ).json<Items>();
        descPaged.push(...page.items.map((i) => i.id));
        cursor = page.next;
      } while (cursor !== null);
      assert.deepEqual(descPaged, curated.items.map((i) => i.id).reverse());
      assert.equal((await get('/v1/lake/items?status=bogus')).statusCode, 400);
    });

    test('one item: metadata, captions, lineage and its dead letters; unknown id is 404', async () => {
      const id = h.images[1]!.id;
      await h.lake.catalog.deadLetters.record(
        deadLetterEntry({
          eventId: 'dl-1',
          originalTopic: 'image.ingested',
          originalPartition: 0,
          originalOffset: 3,
          originalKey: Buffer.from(id),
          originalValue: Buffer.from('bytes'),
          originalHeaders: {},
          originalTimestamp: 1,
          errorCode: 'IMAGE_DECODE_FAILED',
          errorMessage: 'bad',
          retriable: false,
          errorContext: null,
          stack: null,
          topology: 'normalize',
          step: 'normalize-image',
          attempts: 1,
          firstFailureAt: 1,
          lastFailureAt: 2,
        }),
      );
      const item = (await get(`/v1/lake/items/${id}`)).json<{
        captions: unknown[];
        lineage: { objects: unknown[] };
        deadLetters: { errorCode: string }[];
      }>();
      assert.equal(item.captions.length, 1);
      assert.equal(item.lineage.objects.length, 2);
      assert.deepEqual(
        item.deadLetters.map((d) => d.errorCode),
        ['IMAGE_DECODE_FAILED'],
      );
      assert.equal((await get(`/v1/lake/items/${'0'.repeat(64)}`)).statusCode, 404);
    });

    test('image bytes by variant with ETag, 304 and Range', async () => {
      const { id, bytes } = h.images[0]!;
      const full = await get(`/v1/lake/items/${id}/image`);
      assert.equal(full.statusCode, 200);
      assert.deepEqual(full.rawPayload, bytes);
      assert.equal(full.headers.etag, `"${id}"`);
      assert.equal(
        (await get(`/v1/lake/items/${id}/image`, KEYS.read, { 'if-none-match': `"${id}"` })).statusCode,
        304,
      );
      const part = await get(`/v1/lake/items/${id}/image`, KEYS.read, { range: 'bytes=4-9' });
      assert.equal(part.statusCode, 206);
      assert.equal(part.headers['content-range'], `bytes 4-9/${bytes.length}`);
      assert.deepEqual(part.rawPayload, bytes.subarray(4, 10));
      assert.equal(
        (await get(`/v1/lake/items/${id}/image`, KEYS.read, { range: 'bytes=9999-' })).statusCode,
        416,
      );
      const thumb = await get(`/v1/lake/items/${id}/image?variant=thumbnail`);
      assert.equal(thumb.rawPayload.toString(), 'thumb 0');
      assert.equal((await get(`/v1/lake/items/${id}/image?variant=model-input`)).statusCode, 200);
      // presign: a redirect to the object store where it has presigned URLs (S3), the bytes otherwise (fs).
      const presigned = await get(`/v1/lake/items/${id}/image?presign=true`);
      if ((await h.lake.store.presignGet(contentKey('bronze', id, 'png'), 60)) === null) {
        assert.equal(presigned.statusCode, 200);
        assert.deepEqual(presigned.rawPayload, bytes);
      } else {
        assert.equal(presigned.statusCode, 307);
        const direct = await fetch(String(presigned.headers.location));
        assert.deepEqual(Buffer.from(await direct.arrayBuffer()), bytes);
      }
    });

    test('changes since a watermark: resumable, every change once, later writes on a later poll', async () => {
      const seen: string[] = [];
      let since: string | null = null;
      for (;;) {
        const page: { items: { id: string }[]; next: string | null } = (
          await get(`/v1/lake/changes?limit=2${since === null ? '' : `&since=${since}`}`)
        ).json();
        if (page.items.length === 0) break;
        seen.push(...page.items.map((i) => i.id));
        since = page.next;
        // A write while the reader pages: it must show up after what was read, not be lost.
        if (seen.length === 2) await h.lake.catalog.images.upsert({ id: seen[0]!, reason: 'touched' });
      }
      assert.equal(new Set(seen).size, h.images.length);
      assert.equal(
        seen.filter((id) => id === seen[0]).length,
        2,
        'the touched image comes again, after its update',
      );
      const again = (await get(`/v1/lake/changes?since=${since}`)).json<{ items: unknown[] }>();
      assert.deepEqual(again.items, []);
    });

    test('dataset versions: create, list, manifest, diff, Parquet export', async () => {
      const a = (await post('/v1/lake/datasets', { name: 'ds', filter: { splits: ['train'] } })).json<{
        record: { id: string; counts: { total: number } };
      }>();
      // Images whose only caption is machine-made are left out (human captions only by default).
      assert.equal(a.record.counts.total, 2);
      const b = (await post('/v1/lake/datasets', { name: 'ds' })).json<{ record: { id: string } }>();
      const list = (await get('/v1/lake/datasets?name=ds')).json<{ items: { id: string }[] }>();
      assert.deepEqual(new Set(list.items.map((d) => d.id)), new Set([a.record.id, b.record.id]));
      const manifest = (await get(`/v1/lake/datasets/${a.record.id}/manifest`)).json<{ items: unknown[] }>();
      assert.equal(manifest.items.length, 2);
      const diff = (await get(`/v1/lake/datasets/${b.record.id}/diff?from=${a.record.id}`)).json<{
        added: unknown[];
        removed: unknown[];
      }>();
      assert.equal(diff.added.length, 1);
      assert.equal(diff.removed.length, 0);
      const parquet = await get(`/v1/lake/datasets/${a.record.id}/export.parquet`, KEYS.admin);
      assert.equal(parquet.statusCode, 200);
      assert.equal(parquet.rawPayload.subarray(0, 4).toString(), 'PAR1');
      assert.equal((await get(`/v1/lake/datasets/${a.record.id}/export.parquet`, KEYS.read)).statusCode, 403);
    });

    test('WebDataset export: shards listed and streamed; an independent reader finds every gold item once with its captions', async (t) => {
      const created = (await post('/v1/lake/datasets', { name: 'wds', includeMachineCaptions: true })).json<{
        record: { id: string; counts: { total: number } };
      }>();
      const id = created.record.id;
      const manifest = (await getDataset(h.lake, id))!;
      assert.equal(manifest.items.length, 5);
      type Plan = {
        prefix: string;
        samples: number;
        pattern: string;
        shards: { name: string; samples: number; url: string }[];
      };
      const plan = (await get(`/v1/lake/datasets/${id}/webdataset?shardSize=2`)).json<Plan>();
      assert.equal(plan.samples, 5);
      assert.deepEqual(
        plan.shards.map((s) => [s.name, s.samples]),
        [
          [`${id}-000000.tar`, 2],
          [`${id}-000001.tar`, 2],
          [`${id}-000002.tar`, 1],
        ],
      );
      assert.equal(plan.pattern, `${id}-{000000..000002}.tar`);

      const dir = await mkdtemp(join(tmpdir(), 'cf-wds-'));
      try {
        const paths: string[] = [];
        for (const shard of plan.shards) {
          const res = await get(shard.url, KEYS.admin);
          assert.equal(res.statusCode, 200);
          assert.equal(res.headers['content-type'], 'application/x-tar');
          assert.equal(Number(res.headers['content-length']), res.rawPayload.length);
          const again = await get(shard.url, KEYS.admin, { 'if-none-match': String(res.headers.etag) });
          assert.equal(again.statusCode, 304);
          paths.push(join(dir, shard.name));
          await writeFile(paths[paths.length - 1]!, res.rawPayload);
        }
        // Exports need an admin key; listing is a read; a name outside the plan is 404.
        assert.equal((await get(plan.shards[0]!.url, KEYS.read)).statusCode, 403);
        assert.equal(
          (await get(`/v1/lake/datasets/${id}/webdataset/${id}-000009.tar?shardSize=2`, KEYS.admin))
            .statusCode,
          404,
        );

        const { reader, samples } = await readWebDataset(paths);
        t.diagnostic(`reader: ${reader}`);
        const keys = samples.map((s) => s.key);
        assert.equal(new Set(keys).size, keys.length, `a key appears twice (${reader})`);
        assert.deepEqual([...keys].sort(), manifest.items.map((i) => i.imageId).sort(), reader);
        const seeded = new Map(h.images.map((i) => [i.id, i.bytes]));
        for (const sample of samples) {
          const item = manifest.items.find((i) => i.imageId === sample.key)!;
          assert.deepEqual(Object.keys(sample.files).sort(), ['json', 'png', 'txt']);
          assert.deepEqual(sample.files['png'], seeded.get(sample.key));
          assert.deepEqual(
            sample.files['txt']!.toString('utf8').trimEnd().split('\n'),
            item.captions.map((c) => c.text),
          );
          const meta = JSON.parse(sample.files['json']!.toString('utf8')) as {
            dataset: string;
            split: string;
            captions: { text: string }[];
          };
          assert.equal(meta.dataset, id);
          assert.equal(meta.split, item.split);
          assert.deepEqual(
            meta.captions.map((c) => c.text),
            item.captions.map((c) => c.text),
          );
        }

        // The CLI's export writes the same bytes as the route; a split gets its own prefix.
        const out = join(dir, 'cli');
        const progress: number[] = [];
        const written = await exportWebDataset(h.lake, manifest, out, {
          shardSize: 2,
          onProgress: (n) => progress.push(n),
        });
        assert.deepEqual(progress, [2, 4, 5]);
        for (const [i, file] of written.files.entries())
          assert.deepEqual(await readFile(file), await readFile(paths[i]!));
        const val = await exportWebDataset(h.lake, manifest, join(dir, 'val'), { split: 'val' });
        assert.deepEqual(await readdir(join(dir, 'val')), [`${id}-val-000000.tar`]);
        const valSamples = (await readWebDataset(val.files)).samples;
        assert.deepEqual(
          valSamples.map((s) => s.key).sort(),
          manifest.items
            .filter((i) => i.split === 'val')
            .map((i) => i.imageId)
            .sort(),
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('SQL: read-only SELECT over the catalog and gold tables; DDL, DML, file and URL access refused with 400 and a reason', async () => {
      const ok = (
        await post(
          '/v1/lake/sql',
          { sql: 'SELECT status, count(*) AS n FROM images GROUP BY status ORDER BY status' },
          KEYS.read,
        )
      ).json<{ rows: { status: string; n: number }[] }>();
      assert.deepEqual(ok.rows, [
        { status: 'curated', n: 5 },
        { status: 'rejected', n: 4 },
      ]);
      const joined = (
        await post(
          '/v1/lake/sql',
          {
            sql: "SELECT count(*) AS n FROM captions c JOIN images i ON i.id = c.image_id WHERE c.origin = 'machine'",
          },
          KEYS.read,
        )
      ).json<{ rows: { n: number }[] }>();
      assert.equal(joined.rows[0]!.n, 3);
      const attr = (
        await post(
          '/v1/lake/sql',
          { sql: "SELECT count(*) AS n FROM images WHERE attributes['deviceId'] = 'pixel-7'" },
          KEYS.read,
        )
      ).json<{ rows: { n: number }[] }>();
      assert.equal(attr.rows[0]!.n, 3);
      const gold = (
        await post(
          '/v1/lake/sql',
          { sql: 'SELECT count(DISTINCT dataset_id) AS n FROM dataset_items' },
          KEYS.read,
        )
      ).json<{ rows: { n: number }[] }>();
      assert.ok(gold.rows[0]!.n >= 1);
      const refusals: [string, string][] = [
        ['CREATE TABLE t AS SELECT 1', 'not-select'],
        ['DROP VIEW images', 'not-select'],
        ["INSERT INTO images (id) VALUES ('x')", 'not-select'],
        ["UPDATE images SET status = 'curated'", 'not-select'],
        ['DELETE FROM captions', 'not-select'],
        ["SELECT * FROM read_csv('/etc/passwd')", 'file-access'],
        ["COPY (SELECT 1) TO '/tmp/x.csv'", 'not-select'],
        ["SELECT * FROM read_parquet('https://example.com/x.parquet')", 'url-access'],
        ["SELECT * FROM read_parquet('s3://bucket/x.parquet')", 'url-access'],
        ["ATTACH '/tmp/x.db'", 'not-select'],
        ['SELECT 1; SELECT 2', 'statements'],
        ['SELECT count(*) FROM range(100000000000) a', 'timeout'],
      ];
      for (const [sql, reason] of refusals) {
        const res = await post('/v1/lake/sql', { sql }, KEYS.read);
        assert.equal(res.statusCode, 400, `${sql}: ${res.body}`);
        const err = res.json<{ error: { code: string; context: { reason: string } } }>().error;
        assert.equal(err.code, 'LAKE_QUERY_REJECTED', sql);
        assert.equal(err.context.reason, reason, sql);
      }
      const limited = await post('/v1/lake/sql', { sql: 'SELECT * FROM range(50)', maxRows: 10 }, KEYS.read);
      assert.equal(
        limited.json<{ error: { context: { reason: string } } }>().error.context.reason,
        'row-limit',
      );
    });

    test('dead letters over HTTP: list by code, show with original bytes, replay to the original topic (admin)', async () => {
      const list = (await get('/v1/lake/dead-letters?code=IMAGE_DECODE_FAILED')).json<{
        items: { id: string }[];
      }>();
      assert.deepEqual(
        list.items.map((d) => d.id),
        ['dl-1'],
      );
      const shown = (await get('/v1/lake/dead-letters/dl-1')).json<{
        originalValue: string;
        replay: unknown;
      }>();
      assert.equal(Buffer.from(shown.originalValue, 'base64').toString(), 'bytes');
      assert.equal(shown.replay, null);
      const replay = (await post('/v1/lake/dead-letters/replay', { ids: ['dl-1'] })).json<{
        replayed: { topic: string }[];
      }>();
      assert.deepEqual(
        replay.replayed.map((r) => r.topic),
        ['image.ingested'],
      );
      assert.equal(h.log.readAll('image.ingested').length, 1);
      assert.deepEqual((await get('/v1/lake/dead-letters')).json<{ items: unknown[] }>().items, []);
      assert.equal(
        (await get('/v1/lake/dead-letters?state=replayed')).json<{ items: unknown[] }>().items.length,
        1,
      );
    });

    test('lake gauges are read from the catalog at scrape time', async () => {
      const { Metrics } = await import('../../../../runtime/metrics.ts');
      const { registerLakeGauges } = await import('../../../../services/query/lake-gauges.ts');
      const metrics = new Metrics();
      registerLakeGauges(metrics, h.lake, { modelName: 'captioner' });
      const text = await metrics.text();
      assert.match(text, /captionflow_lake_items\{layer="gold"\} 5/);
      assert.match(text, /captionflow_lake_items_by_status\{status="rejected"\} 4/);
      assert.match(text, /captionflow_lake_items_by_split\{split="train"\} 3/);
      assert.match(text, /captionflow_lake_captions\{origin="machine"\} 3/);
      assert.match(text, /captionflow_lake_dataset_versions \d+/);
      // A write between scrapes shows on the next scrape.
      await h.lake.catalog.captions.upsert({
        imageId: h.images[0]!.id,
        text: 'one more machine caption',
        origin: 'machine',
      });
      assert.match(await metrics.text(), /captionflow_lake_captions\{origin="machine"\} 4/);
    });
  });
}
