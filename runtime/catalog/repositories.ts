/**
 * The catalog repositories, written once against the {@link DocumentStore} interface; the SQLite
 * and MongoDB adapters only provide the document store. Upserts are read → merge → compare
 * content hash → compare-and-set write, retried when another writer got in between.
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { canonicalJson, contentHash, type JsonValue } from './canonical-json.ts';
import type {
  CaptionRecord,
  CaptionRepository,
  CaptionUpsert,
  Catalog,
  DatasetRecord,
  DatasetRepository,
  ImageQuery,
  ImageRecord,
  ImageRepository,
  ImageStatus,
  ImageUpsert,
  Integrity,
  JobRunRecord,
  JobRunRepository,
  JobRunUpsert,
  ModelAlias,
  ModelRecord,
  ModelRepository,
  ModelUpsert,
  Page,
  PageRequest,
  SetAliasOptions,
  SplitCounts,
  UpsertResult,
} from './catalog.ts';
import { captionId } from './caption-id.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import type { DocumentCollection, DocumentStore, FindQuery, StoredDocument } from './document-store.ts';
import { JOB_LEASE_COLLECTIONS, jobLeaseRepository } from './job-lease-repository.ts';
import { NEAR_DUPLICATE_COLLECTIONS, nearDuplicateRepository } from './near-duplicate-repository.ts';
import { AWAITING_MODEL_COLLECTIONS, awaitingModelRepository } from './awaiting-model-repository.ts';
import { DEAD_LETTER_COLLECTIONS, deadLetterRepository } from './dead-letter-repository.ts';
import { iso, mergeCaption, mergeImage, mergeJobRun, mergeModel } from './merge-rules.ts';
import {
  aliasSchema,
  captionUpsertSchema,
  datasetRecordSchema,
  imageUpsertSchema,
  jobRunUpsertSchema,
  modelUpsertSchema,
  nameSchema,
  validate,
} from './record-schemas.ts';

/** Options shared by the catalog adapters. */
export interface CatalogOptions {
  /** The clock for `createdAt`/`updatedAt` (tests pin it). */
  readonly now?: () => Date;
}

/** The collections of the catalog and the fields each one is queried by. */
export const CATALOG_COLLECTIONS = {
  images: {
    name: 'images',
    indexes: [['status', 'split'], ['layer', 'status'], ['status', 'curatedAt'], ['source'], ['updatedAt'], ['createdAt']],
  },
  captions: { name: 'captions', indexes: [['imageId']] },
  datasets: { name: 'datasets', indexes: [['name', 'createdAt']] },
  models: { name: 'models', indexes: [['name', 'createdAt']] },
  modelAliases: { name: 'model_aliases', indexes: [['name']] },
  jobRuns: { name: 'job_runs', indexes: [['name', 'createdAt']] },
} as const;

const MAX_CAS_ATTEMPTS = 25;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

type Timestamped = { readonly id: string; readonly createdAt: string; readonly updatedAt: string };

function toDoc(record: object): Record<string, JsonValue> {
  // Through canonical JSON: drops undefined members and refuses what JSON cannot hold.
  return JSON.parse(canonicalJson(record)) as Record<string, JsonValue>;
}

function fromDoc<T>(stored: StoredDocument): T {
  return stored.doc as unknown as T;
}

function pageSize(page: PageRequest | undefined): number {
  const limit = page?.limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new PipelineError(
      ErrorCodes.CATALOG_RECORD_INVALID,
      `page limit must be an integer from 1 to ${MAX_PAGE}, got ${limit}`,
      {
        context: { field: 'limit', value: limit },
      },
    );
  }
  return limit;
}

/** Fetch one page by id (one extra row tells whether a next page exists). */
async function findPage<T>(
  coll: DocumentCollection,
  where: NonNullable<FindQuery['where']>,
  page: PageRequest | undefined,
): Promise<Page<T>> {
  const limit = pageSize(page);
  const desc = page?.order === 'desc';
  const rows = await coll.find({
    where:
      page?.after === undefined ? where : { ...where, id: desc ? { lt: page.after } : { gt: page.after } },
    orderBy: [{ field: 'id', dir: desc ? 'desc' : 'asc' }],
    limit: limit + 1,
  });
  const items = rows.slice(0, limit).map((r) => fromDoc<T>(r));
  return { items, next: rows.length > limit ? (rows[limit - 1]?.id ?? null) : null };
}

/** Content that a record's hash covers: not timestamps, not integrity marks. */
function hashOf(content: object): string {
  const { integrity: _integrity, ...rest } = content as { integrity?: unknown };
  return contentHash(rest);
}

/** What every repository needs besides its collection. */
interface RepoContext {
  readonly clock: () => Date;
  /** Serializes writes of one record within this process (see keyed-mutex.ts). */
  readonly locks: KeyedMutex;
}

/**
 * Read → merge → skip if unchanged → compare-and-set, retrying on a concurrent write. Writers
 * of the same record in this process are serialized first, so retries only happen between
 * processes.
 */
function casUpsert<T extends Timestamped>(
  coll: DocumentCollection,
  collection: string,
  id: string,
  merge: (current: T | null, now: string) => Omit<T, 'createdAt' | 'updatedAt'>,
  ctx: RepoContext,
): Promise<UpsertResult<T>> {
  return ctx.locks.run(`${collection}\u0000${id}`, () => casLoop(coll, id, merge, ctx.clock));
}

async function casLoop<T extends Timestamped>(
  coll: DocumentCollection,
  id: string,
  merge: (current: T | null, now: string) => Omit<T, 'createdAt' | 'updatedAt'>,
  clock: () => Date,
): Promise<UpsertResult<T>> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt += 1) {
    const stored = await coll.get(id);
    const current = stored === null ? null : fromDoc<T>(stored);
    const now = iso(clock());
    const merged = merge(current, now);
    const hash = hashOf(merged);
    if (stored !== null && current !== null && stored.hash === hash)
      return { record: current, created: false, changed: false };
    const record = { ...merged, createdAt: current?.createdAt ?? now, updatedAt: now } as unknown as T;
    const doc = toDoc(record);
    const ok =
      stored === null ? await coll.insert(id, doc, hash) : await coll.replace(id, doc, hash, stored.rev);
    if (ok) return { record: doc as unknown as T, created: stored === null, changed: true };
  }
  throw new PipelineError(
    ErrorCodes.CATALOG_CONFLICT,
    `record ${id} kept changing under ${MAX_CAS_ATTEMPTS} upsert attempts`,
    {
      retriable: true,
      context: { id },
    },
  );
}

function imageRepository(coll: DocumentCollection, ctx: RepoContext): ImageRepository {
  return {
    async upsert(patch: ImageUpsert) {
      validate(imageUpsertSchema, patch, 'image');
      return casUpsert<ImageRecord>(
        coll,
        'images',
        patch.id,
        (current, now) => mergeImage(current, patch, now),
        ctx,
      );
    },
    async get(id) {
      const stored = await coll.get(id);
      return stored === null ? null : fromDoc<ImageRecord>(stored);
    },
    async getMany(ids) {
      const rows = await coll.getMany(ids);
      const byId = new Map(rows.map((r) => [r.id, fromDoc<ImageRecord>(r)]));
      return ids.flatMap((id) => byId.get(id) ?? []);
    },
    list(query: ImageQuery, page) {
      const where: NonNullable<FindQuery['where']> = {
        ...(query.layer === undefined ? {} : { layer: query.layer }),
        ...(query.status === undefined ? {} : { status: query.status }),
        ...(query.split === undefined ? {} : { split: query.split }),
        ...(query.source === undefined ? {} : { source: query.source }),
      };
      return findPage<ImageRecord>(coll, where, page);
    },
    async countBySplit(status: ImageStatus = 'curated'): Promise<SplitCounts> {
      const counts = { train: 0, val: 0, test: 0, none: 0 };
      for (const { value, count } of await coll.countBy('split', { status })) {
        if (value === 'train' || value === 'val' || value === 'test') counts[value] += count;
        else counts.none += count;
      }
      return counts;
    },
    listCuratedSince(since, page) {
      return findPage<ImageRecord>(coll, { status: 'curated', curatedAt: { gt: iso(since) } }, page);
    },
    countCuratedSince(since) {
      return coll.count({ status: 'curated', curatedAt: { gt: iso(since) } });
    },
    async listUpdated(after, until, limit) {
      const size = pageSize({ limit });
      const orderBy = [
        { field: 'updatedAt', dir: 'asc' },
        { field: 'id', dir: 'asc' },
      ] as const;
      // Keyset on (updatedAt, id) without OR, in two index range reads: the cursor's ties after
      // its id, then what was written later. Each reads at most one page.
      const ties =
        after === null
          ? []
          : await coll.find({
              where: { updatedAt: { eq: after.updatedAt, lt: iso(until) }, id: { gt: after.id } },
              orderBy,
              limit: size,
            });
      const later =
        ties.length >= size
          ? []
          : await coll.find({
              where: { updatedAt: after === null ? { lt: iso(until) } : { gt: after.updatedAt, lt: iso(until) } },
              orderBy,
              limit: size - ties.length,
            });
      return [...ties, ...later].map((r) => fromDoc<ImageRecord>(r));
    },
    async countBy(field) {
      const out: Record<string, number> = {};
      for (const { value, count } of await coll.countBy(field)) out[String(value)] = count;
      return out;
    },
    setIntegrity(id: string, integrity: Integrity | null) {
      return coll.setField(id, 'integrity', integrity === null ? null : toDoc(integrity));
    },
  };
}

function captionRepository(coll: DocumentCollection, ctx: RepoContext): CaptionRepository {
  const byImages = async (imageIds: readonly string[]): Promise<Map<string, CaptionRecord[]>> => {
    const out = new Map<string, CaptionRecord[]>(imageIds.map((id) => [id, []]));
    for (let i = 0; i < imageIds.length; i += 500) {
      const chunk = imageIds.slice(i, i + 500);
      const rows = await coll.find({
        where: { imageId: { in: chunk } },
        orderBy: [{ field: 'id', dir: 'asc' }],
      });
      for (const row of rows) {
        const caption = fromDoc<CaptionRecord>(row);
        out.get(caption.imageId)?.push(caption);
      }
    }
    return out;
  };
  return {
    async upsert(caption: CaptionUpsert) {
      validate(captionUpsertSchema, caption, 'caption');
      return casUpsert<CaptionRecord>(
        coll,
        'captions',
        captionId(caption.imageId, caption.text),
        (current) => mergeCaption(current, caption),
        ctx,
      );
    },
    async get(id) {
      const stored = await coll.get(id);
      return stored === null ? null : fromDoc<CaptionRecord>(stored);
    },
    async countByOrigin() {
      const out: Record<string, number> = {};
      for (const { value, count } of await coll.countBy('origin')) out[String(value)] = count;
      return out;
    },
    async byImage(imageId) {
      return (await byImages([imageId])).get(imageId) ?? [];
    },
    byImages,
  };
}

function datasetRepository(coll: DocumentCollection): DatasetRepository {
  return {
    async put(input) {
      validate(datasetRecordSchema, input, 'dataset version');
      const record: DatasetRecord = { ...input, createdAt: iso(input.createdAt), integrity: null };
      for (;;) {
        const stored = await coll.get(record.id);
        if (stored !== null)
          return { record: fromDoc<DatasetRecord>(stored), created: false, changed: false };
        if (await coll.insert(record.id, toDoc(record), hashOf(record)))
          return { record, created: true, changed: true };
      }
    },
    async get(id) {
      const stored = await coll.get(id);
      return stored === null ? null : fromDoc<DatasetRecord>(stored);
    },
    listByName(name, limit = DEFAULT_PAGE) {
      return newestByName<DatasetRecord>(coll, name, limit);
    },
    async latest(name) {
      const rows = await this.listByName(name, 1);
      return rows[0] ?? null;
    },
    list(page) {
      return findPage<DatasetRecord>(coll, {}, page);
    },
    setIntegrity(id, integrity) {
      return coll.setField(id, 'integrity', integrity === null ? null : toDoc(integrity));
    },
  };
}

function modelRepository(
  models: DocumentCollection,
  aliases: DocumentCollection,
  ctx: RepoContext,
): ModelRepository {
  const aliasId = (name: string, alias: string): string => `${alias}@${name}`;
  const setAliasLoop = async (
    name: string,
    alias: string,
    version: string,
    id: string,
    options: SetAliasOptions,
  ): Promise<ModelAlias> => {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt += 1) {
      const stored = await aliases.get(id);
      const current = stored === null ? null : fromDoc<ModelAlias>(stored);
      const currentVersion = current?.version ?? null;
      if (options.expected !== undefined && options.expected !== currentVersion) {
        throw new PipelineError(
          ErrorCodes.CATALOG_CONFLICT,
          `${alias} of ${name} points at ${currentVersion ?? 'nothing'}, expected ${options.expected ?? 'nothing'}`,
          {
            context: { name, alias, expected: options.expected, actual: currentVersion },
          },
        );
      }
      if (current !== null && currentVersion === version) return current;
      const record: ModelAlias = {
        name,
        alias,
        version,
        previous: currentVersion,
        updatedAt: iso(ctx.clock()),
      };
      const hash = contentHash({ name, alias, version });
      const ok =
        stored === null
          ? await aliases.insert(id, toDoc(record), hash)
          : await aliases.replace(id, toDoc(record), hash, stored.rev);
      if (ok) return record;
    }
    throw new PipelineError(ErrorCodes.CATALOG_CONFLICT, `alias ${alias} of ${name} kept changing`, {
      retriable: true,
      context: { name, alias },
    });
  };
  const repo: ModelRepository = {
    async upsert(model: ModelUpsert) {
      validate(modelUpsertSchema, model, 'model');
      return casUpsert<ModelRecord>(models, 'models', model.id, (current) => mergeModel(current, model), ctx);
    },
    async get(id) {
      const stored = await models.get(id);
      return stored === null ? null : fromDoc<ModelRecord>(stored);
    },
    listByName(name, limit = DEFAULT_PAGE) {
      return newestByName<ModelRecord>(models, name, limit);
    },
    list(page) {
      return findPage<ModelRecord>(models, {}, page);
    },
    async setAlias(
      name: string,
      alias: string,
      version: string,
      options: SetAliasOptions = {},
    ): Promise<ModelAlias> {
      validate(nameSchema, name, 'model name');
      validate(aliasSchema, alias, 'alias');
      const model = await repo.get(version);
      if (model === null || model.name !== name) {
        throw new PipelineError(
          ErrorCodes.CATALOG_RECORD_INVALID,
          `cannot point ${alias} of ${name} at ${version}: no such version of ${name}`,
          {
            context: { name, alias, version, found: model?.name ?? null },
          },
        );
      }
      const id = aliasId(name, alias);
      return ctx.locks.run(`aliases\u0000${id}`, () => setAliasLoop(name, alias, version, id, options));
    },
    async getAlias(name, alias) {
      const stored = await aliases.get(aliasId(name, alias));
      return stored === null ? null : fromDoc<ModelAlias>(stored);
    },
    async byAlias(name, alias) {
      const pointer = await repo.getAlias(name, alias);
      return pointer === null ? null : repo.get(pointer.version);
    },
    async listAliases(name) {
      const rows = await aliases.find({ where: { name }, orderBy: [{ field: 'id', dir: 'asc' }] });
      return rows.map((r) => fromDoc<ModelAlias>(r));
    },
    setIntegrity(id, integrity) {
      return models.setField(id, 'integrity', integrity === null ? null : toDoc(integrity));
    },
  };
  return repo;
}

/** Records of a name, newest first (dataset versions, models and job runs). */
async function newestByName<T>(coll: DocumentCollection, name: string, limit: number): Promise<T[]> {
  const rows = await coll.find({
    where: { name },
    orderBy: [
      { field: 'createdAt', dir: 'desc' },
      { field: 'id', dir: 'desc' },
    ],
    limit: pageSize({ limit }),
  });
  return rows.map((r) => fromDoc<T>(r));
}

function jobRunRepository(coll: DocumentCollection, ctx: RepoContext): JobRunRepository {
  return {
    async upsert(run: JobRunUpsert) {
      validate(jobRunUpsertSchema, run, 'job run');
      return casUpsert<JobRunRecord>(coll, 'job_runs', run.id, (current) => mergeJobRun(current, run), ctx);
    },
    async get(id) {
      const stored = await coll.get(id);
      return stored === null ? null : fromDoc<JobRunRecord>(stored);
    },
    listByName(name, limit = DEFAULT_PAGE) {
      return newestByName<JobRunRecord>(coll, name, limit);
    },
  };
}

/** Build the catalog over a document store (used by the SQLite and MongoDB adapters). */
export async function createCatalog(store: DocumentStore, options: CatalogOptions = {}): Promise<Catalog> {
  const ctx: RepoContext = { clock: options.now ?? (() => new Date()), locks: new KeyedMutex() };
  const c = CATALOG_COLLECTIONS;
  const nd = NEAR_DUPLICATE_COLLECTIONS;
  const dl = DEAD_LETTER_COLLECTIONS;
  const [images, captions, datasets, models, modelAliases, jobRuns, ndMembers, ndBands, ndSupersessions, dlLetters, dlReplays, leases, triggers, awaiting] =
    await Promise.all([
      store.collection(c.images),
      store.collection(c.captions),
      store.collection(c.datasets),
      store.collection(c.models),
      store.collection(c.modelAliases),
      store.collection(c.jobRuns),
      store.collection(nd.members),
      store.collection(nd.bands),
      store.collection(nd.supersessions),
      store.collection(dl.letters),
      store.collection(dl.replays),
      store.collection(JOB_LEASE_COLLECTIONS.leases),
      store.collection(JOB_LEASE_COLLECTIONS.triggers),
      store.collection(AWAITING_MODEL_COLLECTIONS.parked),
    ]);
  return {
    kind: store.kind,
    images: imageRepository(images, ctx),
    captions: captionRepository(captions, ctx),
    datasets: datasetRepository(datasets),
    models: modelRepository(models, modelAliases, ctx),
    jobRuns: jobRunRepository(jobRuns, ctx),
    jobLeases: jobLeaseRepository({ leases, triggers }),
    nearDuplicates: nearDuplicateRepository(
      { members: ndMembers, bands: ndBands, supersessions: ndSupersessions },
      ctx.clock,
    ),
    deadLetters: deadLetterRepository({ letters: dlLetters, replays: dlReplays }, ctx.clock),
    awaitingModel: awaitingModelRepository(awaiting, ctx.clock),
    close: () => store.close(),
  };
}
