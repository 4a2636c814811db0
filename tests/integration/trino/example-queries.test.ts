/**
 * deploy/trino on a real Trino server (deploy/services/trino.ts): the gold Parquet captionflow
 * exports to the S3 server is declared with deploy/trino/sql/lake-tables.sql (Hive connector, S3
 * native file system), the catalog is read on the MongoDB wire (FerretDB) through the `mongodb`
 * catalog (captionflow's own connector, deploy/services/trino/mongodb-connector), and every
 * statement of deploy/trino/sql/example-queries.sql answers what captionflow's embedded DuckDB
 * SQL (`runLakeSql`, over the same catalog and Parquet) answers, and the dataset manifest says.
 * The suite runs on a fresh bucket, catalog database and Trino schema.
 *
 * The server is heavy (≈350 MB of jars from Maven Central on first use, a 1 GB heap, one to three
 * minutes to start on 2 cores): `npm test` starts it unless CAPTIONFLOW_TRINO=0; by hand,
 * `npm run services -- up s3 mongo trino` prints CF_TRINO_URL. Without CF_TRINO_URL it skips.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MongoClient, ObjectId } from 'mongodb';
import { getDataset, snapshotDataset } from '../../../runtime/lake/datasets.ts';
import { datasetTableKey, exportDatasetParquet } from '../../../runtime/lake/lake-sql.ts';
import { runLakeSql } from '../../../services/query/sql-tables.ts';
import { queryHarness, type QueryHarness } from '../../unit/services/query/query-harness.ts';
import { openS3MongoLake, s3MongoSkip } from '../lake/s3-mongo-lake.ts';
import { mustEnv, uniqueName } from '../services/service-env.ts';
import { trinoQuery } from './trino-client.ts';

const SQL_DIR = new URL('../../../deploy/trino/sql/', import.meta.url);
const trinoUrl = process.env.CF_TRINO_URL ?? '';
const skip =
  trinoUrl === '' ? 'CF_TRINO_URL is not set: `npm run services -- up s3 mongo trino` prints it' : s3MongoSkip().skip;

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

/**
 * A statement of the .sql files in captionflow's embedded lake SQL (services/query/sql-tables.ts):
 * the catalogs' prefixes dropped, `_id` is `id`, and the catalog's camelCase fields are the
 * snake_case columns of its tables there.
 */
function asLakeSql(sql: string): string {
  return sql
    .replaceAll('mongodb.captionflow.', '')
    .replaceAll('lake.gold.', '')
    .replace(/\._id\b/g, '.id')
    .replace(
      /\.([a-z]+[A-Z][A-Za-z]*)\b/g,
      (_, name: string) => `.${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`,
    );
}

/** A value as both engines may print it: numbers (DuckDB's HUGEINT sums come as strings) to 12 digits. */
function comparable(v: unknown): unknown {
  const n =
    typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : undefined;
  return n === undefined ? v : Number(n.toPrecision(12));
}

/** Rows as comparable arrays, sorted unless the statement orders them itself. */
function rowsOf(rows: readonly (readonly unknown[])[], ordered: boolean): unknown[][] {
  const out = rows.map((r) => r.map(comparable));
  return ordered ? out : out.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}

const CATALOG_TABLES = ['captions', 'datasets', 'images', 'job_runs', 'model_aliases', 'models'];

describe(
  'trino: deploy/trino/sql over the gold Parquet on the S3 server and the catalog on the MongoDB wire',
  { skip: skip ?? false },
  () => {
    let h: QueryHarness;
    let bucket: string;
    let dbName: string;
    let schema: string;
    let datasetId: string;
    let cacheDir: string;
    /** The files' names, rewritten to this test's bucket, schemas and dataset version. */
    const localize = (sql: string): string =>
      sql
        .replaceAll('s3://captionflow/', `s3://${bucket}/`)
        .replaceAll('lake.gold', `lake.${schema}`)
        .replaceAll("'gold'", `'${schema}'`)
        .replaceAll('mongodb.captionflow.', `mongodb.${dbName}.`)
        .replaceAll("'ds-…'", `'${datasetId}'`);

    before(async () => {
      h = await queryHarness(9, async (options) => {
        const lake = await openS3MongoLake(options);
        bucket = lake.bucket;
        dbName = lake.dbName;
        return lake;
      });
      cacheDir = await mkdtemp(join(tmpdir(), 'cf-trino-sql-'));
      schema = uniqueName('gold').replace(/-/g, '_');
      const snap = await snapshotDataset(h.lake, { name: 'trino' });
      datasetId = snap.record.id;
      const dir = await mkdtemp(join(tmpdir(), 'cf-trino-'));
      try {
        const out = await exportDatasetParquet(h.lake, datasetId, join(dir, 'items.parquet'), {
          upload: true,
        });
        assert.equal(out.key, datasetTableKey(datasetId));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      for (const sql of statements('lake-tables.sql')) await trinoQuery(trinoUrl, localize(sql));
    });
    after(async () => {
      if (schema !== undefined) {
        await trinoQuery(trinoUrl, `DROP TABLE IF EXISTS lake.${schema}.dataset_items`).catch(
          () => undefined,
        );
        await trinoQuery(trinoUrl, `DROP SCHEMA IF EXISTS lake.${schema}`).catch(() => undefined);
      }
      await h?.close();
      if (cacheDir !== undefined) await rm(cacheDir, { recursive: true, force: true });
    });

    test('example-queries.sql: every statement answers on Trino what the embedded DuckDB SQL answers', async (t) => {
      const all = statements('example-queries.sql');
      assert.equal(all.length, 4, 'the statements of example-queries.sql');
      assert.equal(all.filter((s) => /\bmongodb\./.test(s)).length, 3, 'three read the MongoDB catalog');
      for (const sql of all) {
        const started = process.hrtime.bigint();
        const trino = await trinoQuery(trinoUrl, localize(sql));
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const duck = await runLakeSql(h.lake, asLakeSql(sql).replaceAll("'ds-…'", `'${datasetId}'`), {
          cacheDir,
        });
        const ordered = /\border\s+by\b/i.test(sql);
        t.diagnostic(`${ms.toFixed(0)} ms, ${trino.rows.length} rows: ${sql.split('\n')[0]!}`);
        assert.ok(trino.rows.length > 0, `rows expected from: ${sql}`);
        assert.deepEqual(
          rowsOf(trino.rows, ordered),
          rowsOf(
            duck.map((r) => Object.values(r)),
            ordered,
          ),
          sql,
        );
      }
    });

    test('the mongodb catalog: the declared collections as tables, _id a column, nested fields as json, names case-insensitive', async () => {
      const tables = await trinoQuery(trinoUrl, `SHOW TABLES FROM mongodb.${dbName}`);
      assert.deepEqual(tables.rows.map((r) => r[0]).sort(), CATALOG_TABLES);
      // Upper case in the statement, camelCase in the documents: both match.
      const { rows } = await trinoQuery(
        trinoUrl,
        `SELECT "_ID", Source, curatedAt, quality, json_extract_scalar(attributes, '$.ingest.deviceId'),
              json_array_length(sources), json_extract_scalar(objects, '$.bronze.sha256')
       FROM MONGODB.${dbName.toUpperCase()}.IMAGES ORDER BY "_id"`,
      );
      const images = (await h.lake.catalog.images.list({}, { limit: 100 })).items;
      assert.deepEqual(
        rows,
        [...images]
          .sort((a, b) => (a.id < b.id ? -1 : 1))
          .map((i) => [
            i.id,
            i.source,
            i.curatedAt,
            i.quality,
            (i.attributes['ingest'] as { deviceId?: string } | undefined)?.deviceId ?? null,
            i.sources.length,
            i.objects.bronze?.sha256 ?? null,
          ]),
      );
      const datasets = await trinoQuery(
        trinoUrl,
        `SELECT _id, includeMachineCaptions, CAST(json_extract_scalar(counts, '$.total') AS bigint) FROM mongodb.${dbName}.datasets`,
      );
      const manifest = (await getDataset(h.lake, datasetId))!;
      assert.deepEqual(datasets.rows, [[datasetId, false, manifest.items.length]]);
      // _rev and _hash are hidden: out of SELECT *, there when named.
      const star = await trinoQuery(trinoUrl, `SELECT * FROM mongodb.${dbName}.captions LIMIT 1`);
      assert.ok(star.columns.includes('_id') && !star.columns.includes('_rev'), star.columns.join());
      const revs = await trinoQuery(
        trinoUrl,
        `SELECT min(_rev), count(_hash) FROM mongodb.${dbName}.captions`,
      );
      assert.deepEqual(revs.rows, [[1, h.images.length]]);
    });

    test('the mongodb catalog: a value that does not fit its declared type fails the query, naming the field and _id', async () => {
      const client = new MongoClient(mustEnv('CF_MONGO_URL'), { serverSelectionTimeoutMS: 5_000 });
      try {
        await client
          .db(dbName)
          .collection<{ _id: string; [field: string]: unknown }>('job_runs')
          .insertOne({ _id: 'bad-run', name: 'x', attempts: 'three' });
        await assert.rejects(
          trinoQuery(trinoUrl, `SELECT sum(attempts) FROM mongodb.${dbName}.job_runs`),
          /TYPE_MISMATCH: .*job_runs: field attempts of document _id="bad-run" holds String "three", declared bigint/,
        );
      } finally {
        await client
          .db(dbName)
          .collection<{ _id: string; [field: string]: unknown }>('job_runs')
          .deleteOne({ _id: 'bad-run' });
        await client.close();
      }
    });

    test('the mongodb catalog: equality on a varchar column goes into find(), for string and ObjectId _ids alike', async () => {
      const plan = await trinoQuery(
        trinoUrl,
        `EXPLAIN SELECT text FROM mongodb.${dbName}.captions WHERE origin = 'machine'`,
      );
      assert.match(String(plan.rows[0]?.[0]), /captions find \{"origin":"machine"\}/);
      const image = h.images[0]!;
      const one = await trinoQuery(
        trinoUrl,
        `SELECT _id, source FROM mongodb.${dbName}.images WHERE _id = '${image.id}'`,
      );
      assert.deepEqual(one.rows, [[image.id, (await h.lake.catalog.images.get(image.id))!.source]]);
      const client = new MongoClient(mustEnv('CF_MONGO_URL'), { serverSelectionTimeoutMS: 5_000 });
      const oid = new ObjectId();
      try {
        await client
          .db(dbName)
          .collection('job_runs')
          .insertOne({ _id: oid, name: 'from-the-shell', status: 'queued' });
        const run = await trinoQuery(
          trinoUrl,
          `SELECT _id, name FROM mongodb.${dbName}.job_runs WHERE _id = '${oid.toHexString()}'`,
        );
        assert.deepEqual(run.rows, [[oid.toHexString(), 'from-the-shell']]);
      } finally {
        await client.db(dbName).collection('job_runs').deleteOne({ _id: oid });
        await client.close();
      }
    });

    test('example-queries.sql: items and captions per split of a dataset version equal the manifest', async () => {
      const manifest = await getDataset(h.lake, datasetId);
      assert.ok(manifest !== null && manifest.items.length > 0);
      const expected = new Map<string, { images: number; captions: number }>();
      for (const item of manifest.items) {
        const e = expected.get(item.split) ?? { images: 0, captions: 0 };
        e.images += 1;
        e.captions += item.captions.length;
        expected.set(item.split, e);
      }
      const perSplit = statements('example-queries.sql').filter((s) => !/\bmongodb\./.test(s));
      assert.equal(perSplit.length, 1, 'the lake-only statement of example-queries.sql');
      const { columns, rows } = await trinoQuery(trinoUrl, localize(perSplit[0]!));
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
  },
);
