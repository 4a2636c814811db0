/**
 * SQL over the lake in the embedded deployment: a dataset version's gold metadata exported to
 * Parquet, queried read-only with DuckDB (`@duckdb/node-api`, whose native binary ships in a
 * platform npm package). The distributed deployment uses Trino over the same Parquet layout
 * (`gold/tables/dataset_items/dataset_id=<id>/items.parquet`, uploaded with `upload: true`).
 *
 * Every DuckDB instance here is in-memory, never installs or downloads extensions (json and
 * parquet are built in), and `queryLake` locks the instance down before running the caller's
 * SQL: file access limited to the registered Parquet files, configuration locked, a single
 * SELECT statement only.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rename, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { once } from 'node:events';
import { DuckDBInstance, StatementType, type DuckDBConnection } from '@duckdb/node-api';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { JsonValue } from '../catalog/canonical-json.ts';
import type { ImageRecord } from '../catalog/catalog.ts';
import { ingestAttributesOf } from '../catalog/ingest-attributes.ts';
import { getDataset } from './datasets.ts';
import type { Lake } from './lake.ts';

/** Options of {@link exportDatasetParquet}. */
export interface ExportOptions {
  /** Also put the file into the store at {@link datasetTableKey} (for Trino). */
  readonly upload?: boolean;
}

/** The outcome of an export. */
export interface ExportResult {
  readonly path: string;
  readonly rows: number;
  /** The store key, when uploaded. */
  readonly key: string | null;
}

/** Options of {@link queryLake}. */
export interface QueryOptions {
  /** Views to create: view name → Parquet file path. */
  readonly tables: Readonly<Record<string, string>>;
  /** Most rows returned (default 10 000); more fail with LAKE_QUERY_REJECTED. */
  readonly maxRows?: number;
}

/** The store key of a dataset version's Parquet table (Hive-style partition by dataset id). */
export function datasetTableKey(datasetId: string): string {
  return `gold/tables/dataset_items/dataset_id=${datasetId}/items.parquet`;
}

/** Columns of the exported table, in DuckDB types. */
const COLUMNS: Record<string, string> = {
  dataset_id: 'VARCHAR',
  image_id: 'VARCHAR',
  split: 'VARCHAR',
  source: 'VARCHAR',
  gold_key: 'VARCHAR',
  sha256: 'VARCHAR',
  size: 'BIGINT',
  width: 'INTEGER',
  height: 'INTEGER',
  format: 'VARCHAR',
  quality: 'DOUBLE',
  curated_at: 'TIMESTAMPTZ',
  caption_count: 'INTEGER',
  captions: 'STRUCT(id VARCHAR, text VARCHAR, origin VARCHAR)[]',
  /** The producer's attributes the image arrived with (see catalog/ingest-attributes.ts). */
  attributes: 'MAP(VARCHAR, VARCHAR)',
};

const VIEW_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

async function openDuck(): Promise<{ connection: DuckDBConnection; close(): void }> {
  // No extension is ever installed or fetched: json and parquet are compiled in.
  const instance = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    threads: '2',
    memory_limit: '1GB',
  });
  const connection = await instance.connect();
  return {
    connection,
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/**
 * Write the gold metadata of dataset version `datasetId` (one row per image, captions as a list
 * of structs) to a Parquet file at `outPath`, atomically (temp file + rename).
 */
export async function exportDatasetParquet(
  lake: Lake,
  datasetId: string,
  outPath: string,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const manifest = await getDataset(lake, datasetId);
  if (manifest === null)
    throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `dataset version ${datasetId} not found`, {
      context: { id: datasetId },
    });
  const work = await mkdtemp(join(tmpdir(), 'captionflow-export-'));
  const target = resolve(outPath);
  const partial = join(dirname(target), `.${randomBytes(6).toString('hex')}.parquet.tmp`);
  const duck = await openDuck();
  try {
    // Rows go through NDJSON: one bulk read_json instead of one native call per row.
    const ndjson = join(work, 'items.ndjson');
    const out = createWriteStream(ndjson);
    for (let i = 0; i < manifest.items.length; i += 500) {
      const chunk = manifest.items.slice(i, i + 500);
      const images = new Map<string, ImageRecord>(
        (await lake.catalog.images.getMany(chunk.map((c) => c.imageId))).map((r) => [r.id, r]),
      );
      let text = '';
      for (const item of chunk) {
        const image = images.get(item.imageId);
        text += `${JSON.stringify({
          dataset_id: manifest.id,
          image_id: item.imageId,
          split: item.split,
          source: item.source,
          gold_key: item.key,
          sha256: item.sha256,
          size: item.size,
          width: image?.width ?? null,
          height: image?.height ?? null,
          format: image?.format ?? null,
          quality: image?.quality ?? null,
          curated_at: image?.curatedAt ?? null,
          caption_count: item.captions.length,
          captions: item.captions,
          attributes: image === undefined ? {} : ingestAttributesOf(image.attributes),
        })}\n`;
      }
      if (!out.write(text)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'close');
    const columns = `{${Object.entries(COLUMNS)
      .map(([k, v]) => `${k}: ${sqlString(v)}`)
      .join(', ')}}`;
    const select =
      manifest.items.length === 0
        ? `SELECT ${Object.entries(COLUMNS)
            .map(([k, v]) => `CAST(NULL AS ${v}) AS ${k}`)
            .join(', ')} LIMIT 0`
        : `SELECT * FROM read_json(${sqlString(ndjson)}, format = 'newline_delimited', columns = ${columns}) ORDER BY image_id`;
    await duck.connection.run(`COPY (${select}) TO ${sqlString(partial)} (FORMAT parquet, COMPRESSION zstd)`);
    await rename(partial, target);
    let key: string | null = null;
    if (options.upload === true) {
      key = datasetTableKey(manifest.id);
      await lake.store.put(key, await readFile(target), { contentType: 'application/vnd.apache.parquet' });
    }
    return { path: target, rows: manifest.items.length, key };
  } catch (err) {
    await rm(partial, { force: true });
    throw PipelineError.from(err, ErrorCodes.STORAGE_UNAVAILABLE);
  } finally {
    duck.close();
    await rm(work, { recursive: true, force: true });
  }
}

/** DuckDB values as plain JSON: integers that fit as numbers, timestamps as ISO strings. */
function toJson(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint')
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto === Object.prototype || proto === null) {
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toJson(v)]),
      );
    }
  }
  // DuckDB value classes (decimals, intervals, UUIDs…) print themselves in SQL notation.
  return (value as { toString(): string }).toString();
}

/**
 * Run one read-only SELECT over the given Parquet files (each registered as a view) and return
 * its rows as plain JSON objects. Anything else — several statements, COPY, ATTACH, SET, reading
 * files that were not registered — fails with LAKE_QUERY_REJECTED.
 */
export async function queryLake(sql: string, options: QueryOptions): Promise<Record<string, JsonValue>[]> {
  const maxRows = options.maxRows ?? 10_000;
  const duck = await openDuck();
  try {
    const { connection } = duck;
    const paths: string[] = [];
    for (const [name, path] of Object.entries(options.tables)) {
      if (!VIEW_NAME.test(name))
        throw new PipelineError(ErrorCodes.LAKE_QUERY_REJECTED, `invalid view name ${JSON.stringify(name)}`, {
          context: { name },
        });
      const abs = resolve(path);
      paths.push(abs);
      await connection.run(`CREATE VIEW ${name} AS SELECT * FROM read_parquet(${sqlString(abs)})`);
    }
    await connection.run(`SET allowed_paths = [${paths.map(sqlString).join(', ')}]`);
    await connection.run('SET enable_external_access = false');
    await connection.run('SET lock_configuration = true');

    let statement;
    try {
      const extracted = await connection.extractStatements(sql);
      if (extracted.count !== 1) {
        throw new PipelineError(
          ErrorCodes.LAKE_QUERY_REJECTED,
          `expected exactly one statement, got ${extracted.count}`,
          { context: { statements: extracted.count } },
        );
      }
      statement = await extracted.prepare(0);
    } catch (err) {
      if (err instanceof PipelineError) throw err;
      throw new PipelineError(
        ErrorCodes.LAKE_QUERY_REJECTED,
        `query does not parse: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    if (statement.statementType !== StatementType.SELECT) {
      throw new PipelineError(
        ErrorCodes.LAKE_QUERY_REJECTED,
        `only SELECT is allowed, got ${StatementType[statement.statementType]}`,
        {
          context: { statementType: StatementType[statement.statementType] },
        },
      );
    }
    let reader;
    try {
      reader = await statement.runAndReadUntil(maxRows + 1);
    } catch (err) {
      throw new PipelineError(
        ErrorCodes.LAKE_QUERY_REJECTED,
        `query failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const rows = reader.getRowObjectsJS();
    if (rows.length > maxRows) {
      throw new PipelineError(
        ErrorCodes.LAKE_QUERY_REJECTED,
        `query returned more than ${maxRows} rows; aggregate or add LIMIT`,
        { context: { maxRows } },
      );
    }
    return rows.map((row) => toJson(row) as Record<string, JsonValue>);
  } finally {
    duck.close();
  }
}
