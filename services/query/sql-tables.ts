/**
 * The tables lake SQL sees: the catalog's images, captions and open dead letters, written to
 * newline-delimited JSON for the query (DuckDB reads them through views), and the gold Parquet of
 * every dataset version (`dataset_items`, exported once per version into a cache: versions are
 * immutable). The catalog dump costs one pass over it per query: right for the embedded
 * deployment; a large lake queries Trino over the same Parquet layout instead.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Lake } from '../../runtime/lake/lake.ts';
import { exportDatasetParquet, queryLake, type QueryOptions } from '../../runtime/lake/lake-sql.ts';
import type { JsonValue } from '../../runtime/catalog/canonical-json.ts';
import { ingestAttributesOf } from '../../runtime/catalog/ingest-attributes.ts';

const IMAGE_COLUMNS = {
  id: 'VARCHAR',
  source: 'VARCHAR',
  layer: 'VARCHAR',
  status: 'VARCHAR',
  split: 'VARCHAR',
  width: 'INTEGER',
  height: 'INTEGER',
  format: 'VARCHAR',
  quality: 'DOUBLE',
  reason: 'VARCHAR',
  curated_at: 'TIMESTAMPTZ',
  created_at: 'TIMESTAMPTZ',
  updated_at: 'TIMESTAMPTZ',
  attributes: 'MAP(VARCHAR, VARCHAR)',
};
const CAPTION_COLUMNS = {
  id: 'VARCHAR',
  image_id: 'VARCHAR',
  text: 'VARCHAR',
  origin: 'VARCHAR',
  language: 'VARCHAR',
  model_version: 'VARCHAR',
  score: 'DOUBLE',
};
const DEAD_LETTER_COLUMNS = {
  id: 'VARCHAR',
  error_code: 'VARCHAR',
  topology: 'VARCHAR',
  step: 'VARCHAR',
  original_topic: 'VARCHAR',
  image_key: 'VARCHAR',
  last_failure_at: 'TIMESTAMPTZ',
  replayed_at: 'TIMESTAMPTZ',
};

/** Options of {@link runLakeSql}. */
export interface LakeSqlOptions {
  /** Where exported dataset Parquet files are cached. */
  readonly cacheDir: string;
  readonly maxRows?: number;
  readonly timeoutMs?: number;
}

async function writeLines(path: string, rows: AsyncIterable<Record<string, JsonValue>>): Promise<void> {
  const out = createWriteStream(path);
  for await (const row of rows) if (!out.write(`${JSON.stringify(row)}\n`)) await once(out, 'drain');
  out.end();
  await once(out, 'close');
}

async function* imageRows(lake: Lake): AsyncIterable<Record<string, JsonValue>> {
  let after: string | undefined;
  do {
    const page = await lake.catalog.images.list(
      {},
      { limit: 1000, ...(after === undefined ? {} : { after }) },
    );
    for (const i of page.items)
      yield {
        id: i.id,
        source: i.source,
        layer: i.layer,
        status: i.status,
        split: i.split,
        width: i.width,
        height: i.height,
        format: i.format,
        quality: i.quality,
        reason: i.reason,
        curated_at: i.curatedAt,
        created_at: i.createdAt,
        updated_at: i.updatedAt,
        attributes: ingestAttributesOf(i.attributes),
      };
    after = page.next ?? undefined;
  } while (after !== undefined);
}

async function* captionRows(lake: Lake): AsyncIterable<Record<string, JsonValue>> {
  let after: string | undefined;
  do {
    const page = await lake.catalog.images.list(
      {},
      { limit: 500, ...(after === undefined ? {} : { after }) },
    );
    const captions = await lake.catalog.captions.byImages(page.items.map((i) => i.id));
    for (const list of captions.values())
      for (const c of list)
        yield {
          id: c.id,
          image_id: c.imageId,
          text: c.text,
          origin: c.origin,
          language: c.language,
          model_version: c.modelVersion,
          score: c.score,
        };
    after = page.next ?? undefined;
  } while (after !== undefined);
}

async function* deadLetterRows(lake: Lake): AsyncIterable<Record<string, JsonValue>> {
  let after: string | undefined;
  do {
    const page = await lake.catalog.deadLetters.list(
      { state: 'all' },
      { limit: 1000, ...(after === undefined ? {} : { after }) },
    );
    for (const d of page.items)
      yield {
        id: d.id,
        error_code: d.errorCode,
        topology: d.topology,
        step: d.step,
        original_topic: d.originalTopic,
        image_key: d.imageKey,
        last_failure_at: d.lastFailureAt,
        replayed_at: d.replayedAt,
      };
    after = page.next ?? undefined;
  } while (after !== undefined);
}

/** The Parquet file of every dataset version, exported into the cache when missing. */
async function datasetTables(lake: Lake, cacheDir: string): Promise<string[]> {
  await mkdir(cacheDir, { recursive: true });
  const files: string[] = [];
  let after: string | undefined;
  do {
    const page = await lake.catalog.datasets.list({ limit: 1000, ...(after === undefined ? {} : { after }) });
    for (const d of page.items) {
      const path = join(cacheDir, `${d.id}.parquet`);
      if (!(await stat(path).catch(() => null))) await exportDatasetParquet(lake, d.id, path);
      files.push(path);
    }
    after = page.next ?? undefined;
  } while (after !== undefined);
  return files;
}

/**
 * Run one read-only SELECT over `images`, `captions`, `dead_letters` (the catalog) and
 * `dataset_items` (gold Parquet of every dataset version; referenced only when the query names it).
 */
export async function runLakeSql(
  lake: Lake,
  sql: string,
  options: LakeSqlOptions,
): Promise<Record<string, JsonValue>[]> {
  await mkdir(options.cacheDir, { recursive: true });
  const work = await mkdtemp(join(options.cacheDir, '.sql-'));
  try {
    const jsonTables: NonNullable<QueryOptions['jsonTables']> = {
      images: { path: join(work, 'images.ndjson'), columns: IMAGE_COLUMNS },
      captions: { path: join(work, 'captions.ndjson'), columns: CAPTION_COLUMNS },
      dead_letters: { path: join(work, 'dead_letters.ndjson'), columns: DEAD_LETTER_COLUMNS },
    };
    await writeLines(jsonTables.images!.path, imageRows(lake));
    await writeLines(jsonTables.captions!.path, captionRows(lake));
    await writeLines(jsonTables.dead_letters!.path, deadLetterRows(lake));
    const tables: Record<string, string> = {};
    let query = sql;
    if (/\bdataset_items\b/i.test(sql)) {
      const files = await datasetTables(lake, options.cacheDir);
      // One view per version, unioned under the name the query uses.
      files.forEach((f, i) => (tables[`dataset_items_${i}`] = f));
      const union =
        files.length === 0
          ? '(SELECT NULL::VARCHAR AS dataset_id, NULL::VARCHAR AS image_id LIMIT 0)'
          : `(${files.map((_, i) => `SELECT * FROM dataset_items_${i}`).join(' UNION ALL BY NAME ')})`;
      query = `WITH dataset_items AS ${union} ${sql}`;
      if (/^\s*with\b/i.test(sql)) query = sql.replace(/^\s*with\b/i, `WITH dataset_items AS ${union},`);
    }
    return await queryLake(query, {
      tables,
      jsonTables,
      ...(options.maxRows === undefined ? {} : { maxRows: options.maxRows }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
