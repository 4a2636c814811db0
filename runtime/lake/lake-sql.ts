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
  /** Views over newline-delimited JSON files: view name → the file and its columns (DuckDB types). */
  readonly jsonTables?: Readonly<Record<string, { readonly path: string; readonly columns: Readonly<Record<string, string>> }>>;
  /** Statement timeout in milliseconds (default 10 000): the query is interrupted and refused. */
  readonly timeoutMs?: number;
}

/**
 * Why a query was refused (`context.reason` of LAKE_QUERY_REJECTED): `statements` (not exactly
 * one), `parse`, `not-select` (DDL, DML, COPY, ATTACH, SET…), `url-access`, `file-access`,
 * `timeout`, `row-limit`, `failed` (the SELECT itself failed: unknown column, type error…).
 */
export type QueryRefusal = 'statements' | 'parse' | 'not-select' | 'url-access' | 'file-access' | 'timeout' | 'row-limit' | 'failed';

function refuse(reason: QueryRefusal, message: string, context: Record<string, unknown> = {}, cause?: unknown): PipelineError {
  return new PipelineError(ErrorCodes.LAKE_QUERY_REJECTED, message, { context: { reason, ...context }, ...(cause === undefined ? {} : { cause }) });
}

// A string literal naming a URL: the lake's SQL never reaches the network.
const URL_LITERAL = /'[a-z][a-z0-9+.-]*:\/\//i;
// Writes are refused by their first keyword before DuckDB binds them (binding an INSERT into a
// missing table would otherwise be reported as a parse error); the prepared statement type is
// checked again after.
const WRITE_KEYWORD = /^(insert|update|delete|merge|create|drop|alter|truncate|copy|attach|detach|install|load|set|reset|pragma|call|checkpoint|vacuum|export|import|use|begin|commit|rollback)\b/i;

function firstKeyword(sql: string): string {
  return sql.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/|\()*/, '');
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
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (URL_LITERAL.test(sql)) throw refuse('url-access', 'URLs are not readable from lake SQL: query the registered tables');
  const write = WRITE_KEYWORD.exec(firstKeyword(sql));
  if (write !== null) throw refuse('not-select', `only SELECT is allowed, got ${write[1]!.toUpperCase()}`, { statementType: write[1]!.toUpperCase() });
  const duck = await openDuck();
  try {
    const { connection } = duck;
    const paths: string[] = [];
    const view = (name: string): void => {
      if (!VIEW_NAME.test(name))
        throw new PipelineError(ErrorCodes.LAKE_QUERY_REJECTED, `invalid view name ${JSON.stringify(name)}`, {
          context: { name },
        });
    };
    for (const [name, path] of Object.entries(options.tables)) {
      view(name);
      const abs = resolve(path);
      paths.push(abs);
      await connection.run(`CREATE VIEW ${name} AS SELECT * FROM read_parquet(${sqlString(abs)})`);
    }
    for (const [name, table] of Object.entries(options.jsonTables ?? {})) {
      view(name);
      const abs = resolve(table.path);
      paths.push(abs);
      const columns = `{${Object.entries(table.columns)
        .map(([k, v]) => `${k}: ${sqlString(v)}`)
        .join(', ')}}`;
      await connection.run(`CREATE VIEW ${name} AS SELECT * FROM read_json(${sqlString(abs)}, format = 'newline_delimited', columns = ${columns})`);
    }
    await connection.run(`SET allowed_paths = [${paths.map(sqlString).join(', ')}]`);
    await connection.run('SET enable_external_access = false');
    await connection.run('SET lock_configuration = true');

    let statement;
    try {
      const extracted = await connection.extractStatements(sql);
      if (extracted.count !== 1) throw refuse('statements', `expected exactly one statement, got ${extracted.count}`, { statements: extracted.count });
      statement = await extracted.prepare(0);
    } catch (err) {
      if (err instanceof PipelineError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      if (/Permission Error|Cannot access (file|directory)|enable_external_access/i.test(message)) throw refuse('file-access', `file access is not allowed: ${message}`, {}, err);
      throw refuse('parse', `query does not parse: ${message}`, {}, err);
    }
    if (statement.statementType !== StatementType.SELECT) {
      throw refuse('not-select', `only SELECT is allowed, got ${StatementType[statement.statementType]}`, {
        statementType: StatementType[statement.statementType],
      });
    }
    let reader;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      connection.interrupt();
    }, timeoutMs);
    try {
      reader = await statement.runAndReadUntil(maxRows + 1);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (timedOut || /INTERRUPT/i.test(message)) throw refuse('timeout', `query exceeded the statement timeout of ${timeoutMs} ms`, { timeoutMs }, err);
      if (/Permission Error|Cannot access (file|directory)|enable_external_access/i.test(message)) throw refuse('file-access', `file access is not allowed: ${message}`, {}, err);
      throw refuse('failed', `query failed: ${message}`, {}, err);
    } finally {
      clearTimeout(timer);
    }
    const rows = reader.getRowObjectsJS();
    if (rows.length > maxRows) throw refuse('row-limit', `query returned more than ${maxRows} rows; aggregate or add LIMIT`, { maxRows });
    return rows.map((row) => toJson(row) as Record<string, JsonValue>);
  } finally {
    duck.close();
  }
}
