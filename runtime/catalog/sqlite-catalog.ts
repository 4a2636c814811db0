/**
 * The SQLite adapter of the Catalog port (embedded deployment): one database file in the data
 * directory, better-sqlite3 in WAL mode.
 *
 * Each collection is a table `(id TEXT PRIMARY KEY, rev, hash, doc JSON)`; every indexed field is
 * also a VIRTUAL generated column (`json_extract(doc, '$.field')`) with an index, so queries are
 * index scans and the table stays readable with plain SQL (`SELECT id, status, split FROM
 * images`). Statements are prepared once and cached. better-sqlite3 is synchronous; a catalog
 * call therefore blocks the event loop for the duration of one indexed statement (tens of µs),
 * which is cheaper than any asynchronous hand-off would be.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { JsonValue } from './canonical-json.ts';
import type { Catalog } from './catalog.ts';
import {
  assertFieldPath,
  isCondition,
  type CollectionSpec,
  type DocumentCollection,
  type DocumentStore,
  type FindQuery,
  type NewDocument,
  type Scalar,
  type StoredDocument,
} from './document-store.ts';
import { createCatalog, type CatalogOptions } from './repositories.ts';

/** Options of {@link openSqliteCatalog}. */
export interface SqliteCatalogOptions extends CatalogOptions {
  /** The database file (created with its directory if missing), or `:memory:`. */
  readonly path: string;
  /** How long a writer waits for another process's write lock, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
}

type Db = Database.Database;
type Statement = Database.Statement;
type Param = string | number | null;

interface Row {
  id: string;
  rev: number;
  hash: string;
  doc: string;
}

function unavailable(op: string, err: unknown): PipelineError {
  if (err instanceof PipelineError) return err;
  const code = (err as { code?: unknown }).code;
  // SQLITE_BUSY/LOCKED: another process holds the write lock longer than busy_timeout.
  const retriable =
    code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_IOERR' || code === 'SQLITE_FULL';
  return new PipelineError(
    ErrorCodes.CATALOG_UNAVAILABLE,
    `sqlite catalog: ${op} failed: ${err instanceof Error ? err.message : String(err)}`,
    {
      retriable,
      context: { op, sqliteCode: typeof code === 'string' ? code : null },
      cause: err,
    },
  );
}

function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TypeError(`invalid SQL identifier ${name}`);
  return `"${name}"`;
}

function columnName(field: string): string {
  return `f_${field.replace(/\./g, '__')}`;
}

function toParam(value: Scalar): Param {
  // JSON booleans come out of json_extract as 1/0.
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

class SqliteCollection implements DocumentCollection {
  private readonly table: string;
  private readonly columns: Set<string>;
  private readonly cache = new Map<string, Statement>();

  constructor(
    private readonly db: Db,
    spec: CollectionSpec,
  ) {
    this.table = quoteIdent(spec.name);
    this.columns = new Set(spec.indexes.flat());
    this.migrate(spec);
  }

  private migrate(spec: CollectionSpec): void {
    this.db.exec(
      `CREATE TABLE IF NOT EXISTS ${this.table} (id TEXT PRIMARY KEY NOT NULL, rev INTEGER NOT NULL, hash TEXT NOT NULL, doc TEXT NOT NULL CHECK (json_valid(doc)))`,
    );
    const existing = new Set(
      (this.db.prepare(`PRAGMA table_xinfo(${this.table})`).all() as { name: string }[]).map((c) => c.name),
    );
    for (const field of this.columns) {
      assertFieldPath(field);
      const column = columnName(field);
      if (existing.has(column)) continue;
      // VIRTUAL generated columns can be added to an existing table, so a new index needs no rewrite.
      this.db.exec(
        `ALTER TABLE ${this.table} ADD COLUMN ${quoteIdent(column)} GENERATED ALWAYS AS (json_extract(doc, '$.${field}')) VIRTUAL`,
      );
    }
    for (const fields of spec.indexes) {
      const name = quoteIdent(`${spec.name}_by_${fields.map((f) => columnName(f)).join('_')}`);
      this.db.exec(
        `CREATE INDEX IF NOT EXISTS ${name} ON ${this.table} (${fields.map((f) => quoteIdent(columnName(f))).join(', ')}, id)`,
      );
    }
  }

  private stmt(sql: string): Statement {
    let s = this.cache.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  private expr(field: string): string {
    if (field === 'id') return 'id';
    assertFieldPath(field);
    return this.columns.has(field) ? quoteIdent(columnName(field)) : `json_extract(doc, '$.${field}')`;
  }

  private whereClause(where: FindQuery['where']): { sql: string; params: Param[] } {
    const parts: string[] = [];
    const params: Param[] = [];
    for (const [field, cond] of Object.entries(where ?? {})) {
      const e = this.expr(field);
      if (!isCondition(cond)) {
        if (cond === null) parts.push(`${e} IS NULL`);
        else {
          parts.push(`${e} = ?`);
          params.push(toParam(cond));
        }
        continue;
      }
      if (cond.eq !== undefined) {
        if (cond.eq === null) parts.push(`${e} IS NULL`);
        else {
          parts.push(`${e} = ?`);
          params.push(toParam(cond.eq));
        }
      }
      if (cond.in !== undefined) {
        if (cond.in.length === 0) parts.push('0');
        else {
          parts.push(`${e} IN (${cond.in.map(() => '?').join(', ')})`);
          params.push(...cond.in.map(toParam));
        }
      }
      for (const [op, sqlOp] of [
        ['gt', '>'],
        ['gte', '>='],
        ['lt', '<'],
        ['lte', '<='],
      ] as const) {
        const v = cond[op];
        if (v !== undefined) {
          parts.push(`${e} ${sqlOp} ?`);
          params.push(v);
        }
      }
    }
    return { sql: parts.length === 0 ? '' : ` WHERE ${parts.join(' AND ')}`, params };
  }

  private toStored(row: Row): StoredDocument {
    return {
      id: row.id,
      rev: row.rev,
      hash: row.hash,
      doc: JSON.parse(row.doc) as Record<string, JsonValue>,
    };
  }

  get(id: string): Promise<StoredDocument | null> {
    try {
      const row = this.stmt(`SELECT id, rev, hash, doc FROM ${this.table} WHERE id = ?`).get(id) as
        Row | undefined;
      return Promise.resolve(row === undefined ? null : this.toStored(row));
    } catch (err) {
      return Promise.reject(unavailable('get', err));
    }
  }

  async getMany(ids: readonly string[]): Promise<StoredDocument[]> {
    const out: StoredDocument[] = [];
    for (let i = 0; i < ids.length; i += 500)
      out.push(...(await this.find({ where: { id: { in: ids.slice(i, i + 500) } } })));
    return out;
  }

  insert(id: string, doc: Record<string, JsonValue>, hash: string): Promise<boolean> {
    try {
      const info = this.stmt(
        `INSERT INTO ${this.table} (id, rev, hash, doc) VALUES (?, 1, ?, ?) ON CONFLICT(id) DO NOTHING`,
      ).run(id, hash, JSON.stringify(doc));
      return Promise.resolve(info.changes === 1);
    } catch (err) {
      return Promise.reject(unavailable('insert', err));
    }
  }

  insertMany(entries: readonly NewDocument[]): Promise<boolean[]> {
    try {
      const stmt = this.stmt(
        `INSERT INTO ${this.table} (id, rev, hash, doc) VALUES (?, 1, ?, ?) ON CONFLICT(id) DO NOTHING`,
      );
      // One transaction: one WAL commit for the lot instead of one per document.
      const run = this.db.transaction((list: readonly NewDocument[]) =>
        list.map((e) => stmt.run(e.id, e.hash, JSON.stringify(e.doc)).changes === 1),
      );
      return Promise.resolve(run(entries));
    } catch (err) {
      return Promise.reject(unavailable('insert', err));
    }
  }

  replace(id: string, doc: Record<string, JsonValue>, hash: string, expectedRev: number): Promise<boolean> {
    try {
      const info = this.stmt(
        `UPDATE ${this.table} SET rev = rev + 1, hash = ?, doc = ? WHERE id = ? AND rev = ?`,
      ).run(hash, JSON.stringify(doc), id, expectedRev);
      return Promise.resolve(info.changes === 1);
    } catch (err) {
      return Promise.reject(unavailable('replace', err));
    }
  }

  setField(id: string, field: string, value: JsonValue): Promise<void> {
    try {
      assertFieldPath(field);
      this.stmt(
        `UPDATE ${this.table} SET rev = rev + 1, doc = json_set(doc, '$.${field}', json(?)) WHERE id = ?`,
      ).run(JSON.stringify(value), id);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(unavailable('setField', err));
    }
  }

  find(query: FindQuery): Promise<StoredDocument[]> {
    try {
      const { sql, params } = this.whereClause(query.where);
      const order = (query.orderBy ?? []).map(
        (o) => `${this.expr(o.field)} ${o.dir === 'desc' ? 'DESC' : 'ASC'}`,
      );
      const orderSql = order.length === 0 ? '' : ` ORDER BY ${order.join(', ')}`;
      const limitSql = query.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(query.limit))}`;
      const rows = this.stmt(`SELECT id, rev, hash, doc FROM ${this.table}${sql}${orderSql}${limitSql}`).all(
        ...params,
      ) as Row[];
      return Promise.resolve(rows.map((r) => this.toStored(r)));
    } catch (err) {
      return Promise.reject(unavailable('find', err));
    }
  }

  count(where?: FindQuery['where']): Promise<number> {
    try {
      const { sql, params } = this.whereClause(where);
      const row = this.stmt(`SELECT count(*) AS n FROM ${this.table}${sql}`).get(...params) as { n: number };
      return Promise.resolve(row.n);
    } catch (err) {
      return Promise.reject(unavailable('count', err));
    }
  }

  countBy(field: string, where?: FindQuery['where']): Promise<{ value: Scalar; count: number }[]> {
    try {
      const e = this.expr(field);
      const { sql, params } = this.whereClause(where);
      const rows = this.stmt(
        `SELECT ${e} AS value, count(*) AS n FROM ${this.table}${sql} GROUP BY ${e} ORDER BY ${e}`,
      ).all(...params) as { value: Scalar; n: number }[];
      return Promise.resolve(rows.map((r) => ({ value: r.value, count: r.n })));
    } catch (err) {
      return Promise.reject(unavailable('countBy', err));
    }
  }
}

class SqliteDocumentStore implements DocumentStore {
  readonly kind = 'sqlite' as const;

  constructor(private readonly db: Db) {}

  collection(spec: CollectionSpec): Promise<DocumentCollection> {
    try {
      return Promise.resolve(new SqliteCollection(this.db, spec));
    } catch (err) {
      return Promise.reject(unavailable(`open ${spec.name}`, err));
    }
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}

/** Open (creating if needed) the SQLite catalog at `options.path`. */
export async function openSqliteCatalog(options: SqliteCatalogOptions): Promise<Catalog> {
  if (typeof options.path !== 'string' || options.path === '') {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      'sqlite catalog: path must be a file path or :memory:',
      {
        context: { key: 'path', value: options.path ?? null, expected: 'a file path' },
      },
    );
  }
  let db: Db;
  try {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    db = new Database(options.path);
    db.pragma('journal_mode = WAL');
    // NORMAL is durable against process crashes in WAL mode; only a power loss can drop the last commits.
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${Math.floor(options.busyTimeoutMs ?? 5000)}`);
  } catch (err) {
    throw unavailable('open', err);
  }
  return createCatalog(new SqliteDocumentStore(db), options);
}
