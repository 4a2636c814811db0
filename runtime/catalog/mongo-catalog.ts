/**
 * The MongoDB adapter of the Catalog port (distributed deployment), on the official `mongodb`
 * driver. Written to the subset FerretDB 1.24 also serves (see README.md beside this file): no
 * transactions, no change streams, no `$expr`, aggregation limited to `$match/$group/$sort/$limit`.
 *
 * Documents are stored as natural documents (`_id` = natural key, the record's fields beside it,
 * plus `_rev` and `_hash`), so Trino's MongoDB connector and the mongo shell read them as they
 * are. Upserts are compare-and-set on `_rev` (`insertOne` / `replaceOne({_id, _rev})`), which is
 * atomic on one document everywhere.
 */
import { MongoBulkWriteError, MongoClient, MongoServerError, type WriteError, type Collection, type Db, type Document, type Filter } from 'mongodb';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { withRetry, type RetryOptions } from '../lake/retry.ts';
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

/** Options of {@link openMongoCatalog}. */
export interface MongoCatalogOptions extends CatalogOptions {
  /** `mongodb://host:port[/db]`. */
  readonly url: string;
  /** The database (default: the one in the URL, else `captionflow`). */
  readonly dbName?: string;
  /** Server selection / connect timeout, ms (default 5000). */
  readonly connectTimeoutMs?: number;
  readonly retry?: RetryOptions;
}

type MongoDoc = Document & { _id: string; _rev: number; _hash: string };

const RETRIABLE_NAMES = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoTopologyClosedError',
  'MongoPoolClearedError',
  'MongoNotConnectedError',
]);
// Server-side codes that clear up: HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress,
// PrimarySteppedDown, ExceededTimeLimit, NotWritablePrimary, InterruptedAtShutdown.
const RETRIABLE_CODES = new Set([6, 7, 89, 91, 189, 262, 10107, 11600, 11602, 13435, 13436]);

// FerretDB on its SQLite backend answers a write that found another writer's lock with code 1
// (InternalError) and SQLite's own words: the lock clears, so the write is retried, not failed
// for good (replicas writing at once dead-lettered good images before this).
const LOCK_BUSY = /\bdatabase is locked\b|\bSQLITE_BUSY\b/;

/** A MongoDB driver error as CATALOG_UNAVAILABLE, retriable when it clears up (exported for its unit test). */
export function classifyMongoError(op: string, err: unknown): PipelineError {
  if (err instanceof PipelineError) return err;
  const name = err instanceof Error ? err.name : '';
  const code = (err as { code?: unknown }).code;
  const labels = (err as { errorLabels?: unknown }).errorLabels;
  const retriable =
    RETRIABLE_NAMES.has(name) ||
    (typeof code === 'number' && RETRIABLE_CODES.has(code)) ||
    (code === 1 && err instanceof Error && LOCK_BUSY.test(err.message)) ||
    (Array.isArray(labels) &&
      (labels.includes('RetryableWriteError') || labels.includes('TransientTransactionError')));
  return new PipelineError(
    ErrorCodes.CATALOG_UNAVAILABLE,
    `mongo catalog: ${op} failed: ${err instanceof Error ? err.message : String(err)}`,
    {
      retriable,
      context: {
        op,
        mongoCode: typeof code === 'number' || typeof code === 'string' ? code : null,
        errorName: name,
      },
      cause: err,
    },
  );
}

/** MongoDB's duplicate-key error code. */
const DUPLICATE_KEY = 11000;

function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

function mongoField(field: string): string {
  if (field === 'id') return '_id';
  assertFieldPath(field);
  return field;
}

function toFilter(where: FindQuery['where']): Filter<MongoDoc> {
  const filter: Record<string, unknown> = {};
  for (const [field, cond] of Object.entries(where ?? {})) {
    const f = mongoField(field);
    if (!isCondition(cond)) {
      filter[f] = cond;
      continue;
    }
    const ops: Record<string, unknown> = {};
    if (cond.eq !== undefined) ops['$eq'] = cond.eq;
    if (cond.in !== undefined) ops['$in'] = [...cond.in];
    if (cond.gt !== undefined) ops['$gt'] = cond.gt;
    if (cond.gte !== undefined) ops['$gte'] = cond.gte;
    if (cond.lt !== undefined) ops['$lt'] = cond.lt;
    if (cond.lte !== undefined) ops['$lte'] = cond.lte;
    filter[f] = ops;
  }
  return filter;
}

function toStored(raw: MongoDoc): StoredDocument {
  const { _id, _rev, _hash, ...rest } = raw;
  return { id: _id, rev: _rev, hash: _hash, doc: { id: _id, ...(rest as Record<string, JsonValue>) } };
}

function toMongo(id: string, doc: Record<string, JsonValue>, rev: number, hash: string): MongoDoc {
  const { id: _ignored, ...rest } = doc;
  return { _id: id, ...rest, _rev: rev, _hash: hash };
}

/** How many equality queries one split `in` runs at a time (see {@link MongoCollection.find}). */
const SPLIT_IN_CONCURRENCY = 16;
/**
 * The longest `in` list worth splitting: each equality query is a scan of its own in PostgreSQL,
 * so a long list (a page of 500 ids) costs less as FerretDB's one whole-collection read.
 */
const SPLIT_IN_MAX_VALUES = 32;

/** The field of `where` whose condition is an `in` list alone (the one a split can fan out), if exactly one is. */
function splittableIn(where: FindQuery['where']): { field: string; values: readonly Scalar[] } | null {
  let found: { field: string; values: readonly Scalar[] } | null = null;
  for (const [field, cond] of Object.entries(where ?? {})) {
    if (!isCondition(cond) || cond.in === undefined) continue;
    if (cond.in.length > SPLIT_IN_MAX_VALUES) return null;
    if (Object.values(cond).filter((v) => v !== undefined).length !== 1 || found !== null) return null;
    found = { field, values: cond.in };
  }
  return found;
}

class MongoCollection implements DocumentCollection {
  constructor(
    private readonly coll: Collection<MongoDoc>,
    private readonly retry: RetryOptions,
    /**
     * FerretDB pushes equality filters down to its SQL backend but not `$in`, which it answers by
     * reading the whole collection; with this set, an unsorted, unlimited find with one short `in`
     * condition (at most SPLIT_IN_MAX_VALUES values) runs as one equality query per value instead.
     */
    private readonly splitIn: boolean,
  ) {}

  private run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, (err) => classifyMongoError(`${op} ${this.coll.collectionName}`, err), this.retry);
  }

  async get(id: string): Promise<StoredDocument | null> {
    const raw = await this.run('get', () => this.coll.findOne({ _id: id }));
    return raw === null ? null : toStored(raw);
  }

  async getMany(ids: readonly string[]): Promise<StoredDocument[]> {
    const out: StoredDocument[] = [];
    for (let i = 0; i < ids.length; i += 500)
      out.push(...(await this.find({ where: { id: { in: ids.slice(i, i + 500) } } })));
    return out;
  }

  insert(id: string, doc: Record<string, JsonValue>, hash: string): Promise<boolean> {
    return this.run('insert', async () => {
      try {
        await this.coll.insertOne(toMongo(id, doc, 1, hash));
        return true;
      } catch (err) {
        // Someone inserted first (or our own earlier attempt did and only the reply was lost).
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    });
  }

  insertMany(entries: readonly NewDocument[]): Promise<boolean[]> {
    if (entries.length === 0) return Promise.resolve([]);
    return this.run('insert', async () => {
      try {
        await this.coll.insertMany(
          entries.map((e) => toMongo(e.id, e.doc, 1, e.hash)),
          { ordered: false },
        );
        return entries.map(() => true);
      } catch (err) {
        // Unordered: every document was tried; the ones refused as duplicates existed already.
        if (!(err instanceof MongoBulkWriteError)) throw err;
        const errors: readonly WriteError[] = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
        const existed = new Set<number>();
        for (const e of errors) {
          if (e.code !== DUPLICATE_KEY) throw err;
          existed.add(e.index);
        }
        return entries.map((_, i) => !existed.has(i));
      }
    });
  }

  replace(id: string, doc: Record<string, JsonValue>, hash: string, expectedRev: number): Promise<boolean> {
    return this.run('replace', async () => {
      const res = await this.coll.replaceOne(
        { _id: id, _rev: expectedRev },
        toMongo(id, doc, expectedRev + 1, hash),
      );
      return res.matchedCount === 1;
    });
  }

  async setField(id: string, field: string, value: JsonValue): Promise<void> {
    assertFieldPath(field);
    await this.run('setField', () =>
      this.coll.updateOne({ _id: id }, { $set: { [field]: value }, $inc: { _rev: 1 } }),
    );
  }

  find(query: FindQuery): Promise<StoredDocument[]> {
    const split = this.splitIn && query.orderBy === undefined && query.limit === undefined ? splittableIn(query.where) : null;
    if (split !== null) return this.findSplit(query, split.field, split.values);
    return this.run('find', async () => {
      let cursor = this.coll.find(toFilter(query.where));
      const order = query.orderBy ?? [];
      if (order.length > 0) {
        const sort: Record<string, 1 | -1> = {};
        for (const o of order) sort[mongoField(o.field)] = o.dir === 'desc' ? -1 : 1;
        cursor = cursor.sort(sort);
      }
      if (query.limit !== undefined) cursor = cursor.limit(Math.max(0, Math.floor(query.limit)));
      return (await cursor.toArray()).map(toStored);
    });
  }

  private async findSplit(query: FindQuery, field: string, values: readonly Scalar[]): Promise<StoredDocument[]> {
    const byId = new Map<string, StoredDocument>();
    const distinct = [...new Set(values)];
    for (let i = 0; i < distinct.length; i += SPLIT_IN_CONCURRENCY) {
      const pages = await Promise.all(
        distinct.slice(i, i + SPLIT_IN_CONCURRENCY).map((value) =>
          this.run('find', async () => (await this.coll.find(toFilter({ ...query.where, [field]: value })).toArray()).map(toStored)),
        ),
      );
      for (const page of pages) for (const d of page) byId.set(d.id, d);
    }
    return [...byId.values()];
  }

  count(where?: FindQuery['where']): Promise<number> {
    return this.run('count', () => this.coll.countDocuments(toFilter(where)));
  }

  countBy(field: string, where?: FindQuery['where']): Promise<{ value: Scalar; count: number }[]> {
    const f = mongoField(field);
    return this.run('countBy', async () => {
      const rows = await this.coll
        .aggregate<{ _id: Scalar; n: number }>([
          { $match: toFilter(where) },
          { $group: { _id: `$${f}`, n: { $sum: 1 } } },
          { $sort: { _id: 1 } },
        ])
        .toArray();
      return rows.map((r) => ({ value: r._id ?? null, count: r.n }));
    });
  }
}

class MongoDocumentStore implements DocumentStore {
  readonly kind = 'mongo' as const;

  constructor(
    private readonly client: MongoClient,
    private readonly db: Db,
    private readonly retry: RetryOptions,
    private readonly ferretdb: boolean,
  ) {}

  async collection(spec: CollectionSpec): Promise<DocumentCollection> {
    const coll = this.db.collection<MongoDoc>(spec.name);
    // One createIndex per index: FerretDB 1.24 (PostgreSQL backend) drops the connection on a
    // createIndexes of several indexes that already exist, as every replica after the first sends.
    for (const fields of spec.indexes) {
      const keys: Record<string, 1> = {};
      for (const f of fields) keys[mongoField(f)] = 1;
      await withRetry(
        () => coll.createIndex(keys, { name: `${spec.name}_by_${fields.join('_')}` }),
        (err) => classifyMongoError(`create index on ${spec.name}`, err),
        this.retry,
      );
    }
    return new MongoCollection(coll, this.retry, this.ferretdb);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** Connect to MongoDB (or FerretDB) and open the catalog. Fails with CATALOG_UNAVAILABLE when the server cannot be reached. */
export async function openMongoCatalog(options: MongoCatalogOptions): Promise<Catalog> {
  if (typeof options.url !== 'string' || !/^mongodb(\+srv)?:\/\//.test(options.url)) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `mongo catalog: url ${JSON.stringify(options.url)} is not a mongodb:// URL`,
      {
        context: { key: 'url', value: options.url ?? null, expected: 'mongodb://host:port[/db]' },
      },
    );
  }
  const timeout = options.connectTimeoutMs ?? 5000;
  // retryWrites needs a replica set (FerretDB has none); our own CAS retries cover the same ground.
  const client = new MongoClient(options.url, {
    serverSelectionTimeoutMS: timeout,
    connectTimeoutMS: timeout,
    retryWrites: false,
  });
  const retry = options.retry ?? {};
  try {
    await withRetry(
      () => client.connect(),
      (err) => classifyMongoError('connect', err),
      retry,
    );
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
  const fromUrl = /^mongodb(?:\+srv)?:\/\/[^/]+\/([^?]+)/.exec(options.url)?.[1];
  const db = client.db(
    options.dbName ?? (fromUrl === undefined ? 'captionflow' : decodeURIComponent(fromUrl)),
  );
  // FerretDB says so in buildInfo (`ferretdbVersion`); it needs `in` filters split (see MongoCollection).
  const buildInfo: Document = await db.admin().command({ buildInfo: 1 }).catch(() => ({}));
  const ferretdb = 'ferretdbVersion' in buildInfo;
  return createCatalog(new MongoDocumentStore(client, db, retry, ferretdb), options);
}

/** Drop a catalog database. For tests that use a fresh database per test; never called by the pipeline. */
export async function dropMongoCatalogDatabase(url: string, dbName: string): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000, retryWrites: false });
  try {
    await client.connect();
    await client.db(dbName).dropDatabase();
  } finally {
    await client.close();
  }
}
