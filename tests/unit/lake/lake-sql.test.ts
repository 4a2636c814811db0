/** SQL over the lake: Parquet export of a dataset version and read-only DuckDB queries. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteCatalog } from '../../../runtime/catalog/sqlite-catalog.ts';
import { snapshotDataset } from '../../../runtime/lake/datasets.ts';
import { openFsObjectStore } from '../../../runtime/lake/fs-object-store.ts';
import type { Lake } from '../../../runtime/lake/lake.ts';
import { datasetTableKey, exportDatasetParquet, queryLake } from '../../../runtime/lake/lake-sql.ts';
import { ErrorCodes } from '../../../schemas/errors.ts';
import { rejectsWithCode, seedCuratedImage } from './lake-fixtures.ts';

describe('lake SQL (DuckDB over Parquet)', () => {
  let dir: string;
  let lake: Lake;
  let datasetId: string;
  let parquet: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cf-sql-'));
    lake = {
      store: await openFsObjectStore({ root: join(dir, 'lake') }),
      catalog: await openSqliteCatalog({ path: join(dir, 'c.sqlite') }),
    };
    for (let i = 0; i < 5; i += 1) {
      await seedCuratedImage(lake, {
        split: i < 3 ? 'train' : 'val',
        source: i === 0 ? 'mobile' : 'upload',
        captions: [{ text: `cap ${i}` }, { text: `o'quote ${i}` }],
      });
    }
    datasetId = (await snapshotDataset(lake, { name: 'sql' })).manifest.id;
    parquet = join(dir, 'out', 'items.parquet');
    await writeFile(join(dir, 'secret.csv'), 'a,b\n1,2\n');
  });
  after(async () => {
    await lake.catalog.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('exports a dataset version to Parquet and answers SELECTs over it', async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'out'));
    const out = await exportDatasetParquet(lake, datasetId, parquet, { upload: true });
    assert.deepEqual({ rows: out.rows, key: out.key }, { rows: 5, key: datasetTableKey(datasetId) });
    assert.equal(await lake.store.exists(datasetTableKey(datasetId)), true);
    const rows = await queryLake(
      'SELECT split, count(*) AS n, sum(caption_count) AS captions FROM items GROUP BY split ORDER BY split',
      { tables: { items: parquet } },
    );
    assert.deepEqual(rows, [
      { split: 'train', n: 3, captions: 6 },
      { split: 'val', n: 2, captions: 4 },
    ]);
    const [one] = await queryLake(
      "SELECT dataset_id, width, format, curated_at, captions[1].origin AS origin FROM items WHERE source = 'mobile'",
      { tables: { items: parquet } },
    );
    assert.equal(one?.['dataset_id'], datasetId);
    assert.equal(one?.['width'], 64);
    assert.equal(one?.['format'], 'jpeg');
    assert.equal(one?.['origin'], 'human');
    const curatedAt = one?.['curated_at'];
    assert.ok(
      typeof curatedAt === 'string' && /^\d{4}-\d\d-\d\dT/.test(curatedAt),
      `curated_at ${JSON.stringify(curatedAt)}`,
    );
  });

  it('refuses anything but one SELECT over the registered files', async () => {
    const tables = { items: parquet };
    await rejectsWithCode(
      queryLake(`COPY items TO '${join(dir, 'x.csv')}'`, { tables }),
      ErrorCodes.LAKE_QUERY_REJECTED,
    );
    await rejectsWithCode(
      queryLake(`SELECT * FROM read_csv('${join(dir, 'secret.csv')}')`, { tables }),
      ErrorCodes.LAKE_QUERY_REJECTED,
    );
    await rejectsWithCode(queryLake('SELECT 1; SELECT 2', { tables }), ErrorCodes.LAKE_QUERY_REJECTED);
    await rejectsWithCode(
      queryLake('SET enable_external_access = true', { tables }),
      ErrorCodes.LAKE_QUERY_REJECTED,
    );
    await rejectsWithCode(queryLake("ATTACH 'x.db'", { tables }), ErrorCodes.LAKE_QUERY_REJECTED);
    await rejectsWithCode(queryLake('SELEC nonsense', { tables }), ErrorCodes.LAKE_QUERY_REJECTED);
    await rejectsWithCode(
      queryLake('SELECT * FROM range(20)', { tables, maxRows: 10 }),
      ErrorCodes.LAKE_QUERY_REJECTED,
    );
    await rejectsWithCode(
      queryLake('SELECT 1', { tables: { 'bad name': parquet } }),
      ErrorCodes.LAKE_QUERY_REJECTED,
    );
  });

  it('exports an empty dataset version as an empty table', async () => {
    const empty = await snapshotDataset(lake, { name: 'empty', filter: { sources: ['nowhere'] } });
    const path = join(dir, 'empty.parquet');
    assert.equal((await exportDatasetParquet(lake, empty.manifest.id, path)).rows, 0);
    assert.deepEqual(await queryLake('SELECT count(*) AS n FROM t', { tables: { t: path } }), [{ n: 0 }]);
    await rejectsWithCode(exportDatasetParquet(lake, 'ds-000000000000', path), ErrorCodes.OBJECT_NOT_FOUND);
  });
});
