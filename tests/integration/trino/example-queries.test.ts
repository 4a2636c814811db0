/**
 * deploy/trino on a real Trino server (deploy/services/trino.ts): the gold Parquet captionflow
 * exports to the S3 server is declared with deploy/trino/sql/lake-tables.sql and queried with
 * deploy/trino/sql/example-queries.sql through the Hive connector (S3 native file system), and
 * the answers equal the dataset manifest's. Each test on a fresh bucket, catalog database and
 * Trino schema.
 *
 * Opt-in, because the server is heavy (≈350 MB of jars from Maven Central on first use, a 1 GB
 * heap, about two minutes to start on 2 cores): CAPTIONFLOW_TRINO=1 and the servers started with
 * `npm run services -- up s3 mongo trino` (CF_TRINO_URL). The statements on `mongodb.*` need
 * Trino's MongoDB connector, which the registry these machines reach does not serve: they are
 * listed as skipped, with that reason, not run.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getDataset, snapshotDataset } from '../../../runtime/lake/datasets.ts';
import { datasetTableKey, exportDatasetParquet } from '../../../runtime/lake/lake-sql.ts';
import { queryHarness, type QueryHarness } from '../../unit/services/query/query-harness.ts';
import { openS3MongoLake, s3MongoSkip } from '../lake/s3-mongo-lake.ts';
import { uniqueName } from '../services/service-env.ts';
import { trinoQuery } from './trino-client.ts';

const SQL_DIR = new URL('../../../deploy/trino/sql/', import.meta.url);
const trinoUrl = process.env.CF_TRINO_URL ?? '';
const skip =
  process.env.CAPTIONFLOW_TRINO !== '1'
    ? 'set CAPTIONFLOW_TRINO=1 (and start the servers with `npm run services -- up s3 mongo trino`)'
    : trinoUrl === ''
      ? 'CF_TRINO_URL is not set: `npm run services -- up s3 mongo trino` prints it'
      : s3MongoSkip().skip;

/** The statements of a .sql file (comments dropped; `;` ends one). */
function statements(file: string): string[] {
  return readFileSync(new URL(file, SQL_DIR), 'utf8')
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('--'))
    .join('\n')
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

describe('trino: deploy/trino/sql over the gold Parquet on the S3 server', { skip: skip ?? false }, () => {
  let h: QueryHarness;
  let bucket: string;
  let schema: string;
  let datasetId: string;
  /** The files' names, rewritten to this test's bucket, schema and dataset version. */
  const localize = (sql: string): string =>
    sql
      .replaceAll('s3://captionflow/', `s3://${bucket}/`)
      .replaceAll('lake.gold', `lake.${schema}`)
      .replaceAll("'gold'", `'${schema}'`)
      .replaceAll("'ds-…'", `'${datasetId}'`);

  before(async () => {
    h = await queryHarness(9, async (options) => {
      const lake = await openS3MongoLake(options);
      bucket = lake.bucket;
      return lake;
    });
    schema = uniqueName('gold').replace(/-/g, '_');
    const snap = await snapshotDataset(h.lake, { name: 'trino' });
    datasetId = snap.record.id;
    const dir = await mkdtemp(join(tmpdir(), 'cf-trino-'));
    try {
      const out = await exportDatasetParquet(h.lake, datasetId, join(dir, 'items.parquet'), { upload: true });
      assert.equal(out.key, datasetTableKey(datasetId));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    for (const sql of statements('lake-tables.sql')) await trinoQuery(trinoUrl, localize(sql));
  });
  after(async () => {
    if (schema !== undefined) {
      await trinoQuery(trinoUrl, `DROP TABLE IF EXISTS lake.${schema}.dataset_items`).catch(() => undefined);
      await trinoQuery(trinoUrl, `DROP SCHEMA IF EXISTS lake.${schema}`).catch(() => undefined);
    }
    await h?.close();
  });

  test('example-queries.sql: items and captions per split of a dataset version equal the manifest', async (t) => {
    const manifest = await getDataset(h.lake, datasetId);
    assert.ok(manifest !== null && manifest.items.length > 0);
    const expected = new Map<string, { images: number; captions: number }>();
    for (const item of manifest.items) {
      const e = expected.get(item.split) ?? { images: 0, captions: 0 };
      e.images += 1;
      e.captions += item.captions.length;
      expected.set(item.split, e);
    }
    const all = statements('example-queries.sql');
    const runnable = all.filter((s) => !/\bmongodb\./.test(s));
    for (const s of all.filter((x) => /\bmongodb\./.test(x)))
      t.diagnostic(`skipped (no MongoDB connector served here): ${s.split('\n')[0]}`);
    assert.equal(runnable.length, 1, 'the lake-only statements of example-queries.sql');
    const started = process.hrtime.bigint();
    const { columns, rows } = await trinoQuery(trinoUrl, localize(runnable[0]!));
    t.diagnostic(`trino answered in ${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(0)} ms`);
    assert.deepEqual(columns, ['split', 'images', 'captions']);
    assert.deepEqual(
      rows,
      [...expected.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([split, e]) => [split, e.images, e.captions]),
    );
  });

  test('the table reads the Parquet columns captionflow writes: captions as rows, quality, curated_at', async () => {
    const { rows } = await trinoQuery(
      trinoUrl,
      `SELECT image_id, quality, cardinality(captions), captions[1].origin, curated_at IS NOT NULL
       FROM lake.${schema}.dataset_items WHERE dataset_id = '${datasetId}' ORDER BY image_id`,
    );
    const manifest = (await getDataset(h.lake, datasetId))!;
    const images = new Map(
      (await h.lake.catalog.images.getMany(manifest.items.map((i) => i.imageId))).map((i) => [i.id, i]),
    );
    assert.deepEqual(
      rows,
      [...manifest.items]
        .sort((a, b) => (a.imageId < b.imageId ? -1 : 1))
        .map((i) => [
          i.imageId,
          images.get(i.imageId)!.quality,
          i.captions.length,
          i.captions[0]!.origin,
          true,
        ]),
    );
  });
});
