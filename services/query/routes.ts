/**
 * The Query Data Service: read the lake over HTTP under `/v1/lake/…` — items with filters and
 * cursor pages, one item with its captions, lineage and dead letters, its image bytes by variant
 * (ETag, Range), the changes feed incremental training reads, dataset versions (list, create,
 * manifest, diff, Parquet export), read-only SQL, dead letters (list, show, replay) and a summary
 * for the dashboard. Reads need a `read` key; snapshots, exports and replays an `admin` key
 * (roles: runtime/http/server.ts). Documented in docs/openapi.yaml.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type {
  CaptionRecord,
  ImageRecord,
  ImageLayer,
  ImageStatus,
  Split,
  DeadLetterQuery,
} from '../../runtime/catalog/catalog.ts';
import { ingestAttributesOf } from '../../runtime/catalog/ingest-attributes.ts';
import type { Lake } from '../../runtime/lake/lake.ts';
import { diffDatasets, getDataset, manifestKey, snapshotDataset, type DatasetManifest } from '../../runtime/lake/datasets.ts';
import { exportDatasetParquet } from '../../runtime/lake/lake-sql.ts';
import {
  MAX_SHARD_SIZE,
  DEFAULT_SHARD_SIZE,
  shardIndexOf,
  webDatasetPlan,
  webDatasetShard,
} from '../../runtime/lake/webdataset.ts';
import { lineageOf } from '../../runtime/lake/lineage.ts';
import type { Clock, LogProducer } from '../../runtime/ports.ts';
import { callerOf } from '../ingest/caller.ts';
import { replayDeadLetters } from './dead-letter-replay.ts';
import { runLakeSql } from './sql-tables.ts';

/** What the query routes need. */
export interface QueryRoutesDeps {
  readonly lake: Lake;
  /** Where replays are produced (absent: replay answers 503). */
  readonly producer?: LogProducer;
  readonly clock: Clock;
  /** Cache of exported dataset Parquet for SQL. */
  readonly cacheDir: string;
  /** Safety lag of the changes feed in ms (default 5 000): writes younger than this are served on a later poll. */
  readonly changesLagMs?: number;
  readonly sql?: { readonly maxRows?: number; readonly timeoutMs?: number };
}

const READ = { auth: 'api-key', role: 'read' } as const;
const ADMIN = { auth: 'api-key', role: 'admin' } as const;
const IMAGE_ID = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const DATASET_ID = { type: 'string', pattern: '^ds-[0-9a-f]{12}$' } as const;
const ISO = { type: 'string', format: 'date-time' } as const;
/** Lifetime of a presigned image URL, in seconds. */
const PRESIGN_TTL_S = 300;

/** The querystring of `GET /v1/lake/items`. */
export const ITEMS_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    layer: { type: 'string', enum: ['bronze', 'silver', 'gold'] },
    status: { type: 'string', enum: ['ingested', 'normalized', 'curated', 'rejected', 'duplicate'] },
    split: { type: 'string', enum: ['train', 'val', 'test', 'none'] },
    source: { type: 'string', minLength: 1, maxLength: 64 },
    updatedFrom: ISO,
    updatedTo: ISO,
    minQuality: { type: 'number' },
    maxQuality: { type: 'number' },
    dataset: DATASET_ID,
    captionOrigin: { type: 'string', enum: ['human', 'machine'] },
    modelVersion: { type: 'string', minLength: 1, maxLength: 200 },
    attribute: { type: 'string', pattern: '^[^=]{1,128}=.{0,1024}$' },
    sort: { type: 'string', enum: ['id', '-id'] },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    cursor: { type: 'string', maxLength: 256 },
  },
} as const;

interface ItemsQuery {
  layer?: ImageLayer;
  status?: ImageStatus;
  split?: Split | 'none';
  source?: string;
  updatedFrom?: string;
  updatedTo?: string;
  minQuality?: number;
  maxQuality?: number;
  dataset?: string;
  captionOrigin?: 'human' | 'machine';
  modelVersion?: string;
  attribute?: string;
  sort?: 'id' | '-id';
  limit: number;
  cursor?: string;
}

function notFound(what: string, id: string): PipelineError {
  return new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `${what} ${id} not found`, { context: { id } });
}

/** A dataset version's manifest, or OBJECT_NOT_FOUND. */
async function manifestOf(lake: Lake, id: string): Promise<DatasetManifest> {
  const manifest = await getDataset(lake, id);
  if (manifest === null) throw notFound('dataset version', id);
  return manifest;
}

/** The public view of an image record. */
export function itemView(image: ImageRecord, captions?: readonly CaptionRecord[]): Record<string, unknown> {
  return {
    id: image.id,
    source: image.source,
    layer: image.layer,
    status: image.status,
    split: image.split,
    width: image.width,
    height: image.height,
    format: image.format,
    quality: image.quality,
    reason: image.reason,
    curatedAt: image.curatedAt,
    createdAt: image.createdAt,
    updatedAt: image.updatedAt,
    attributes: ingestAttributesOf(image.attributes),
    objects: image.objects,
    ...(captions === undefined
      ? {}
      : {
          captions: captions.map((c) => ({
            id: c.id,
            text: c.text,
            origin: c.origin,
            language: c.language,
            modelVersion: c.modelVersion,
            score: c.score,
          })),
        }),
  };
}

/**
 * One page of items. Scans the catalog by id, either way (`sort`), from the cursor (indexed
 * conditions: layer, status, split, source), applies the other filters to each candidate, and
 * stops at `limit` matches or after scanning 20 × limit candidates — then `next` resumes the scan where it stopped (a page may
 * then hold fewer items than asked, never a wrong one).
 */
async function listItems(
  lake: Lake,
  q: ItemsQuery,
): Promise<{ items: Record<string, unknown>[]; next: string | null }> {
  const want = q.limit;
  const descending = q.sort === '-id';
  let ids: string[] | null = null;
  if (q.dataset !== undefined) {
    const manifest = await manifestOf(lake, q.dataset);
    ids = manifest.items.map((i) => i.imageId).sort();
    if (descending) ids.reverse();
  }
  const [attrKey, attrValue] =
    q.attribute === undefined
      ? [undefined, undefined]
      : [q.attribute.slice(0, q.attribute.indexOf('=')), q.attribute.slice(q.attribute.indexOf('=') + 1)];
  const matches = async (
    candidates: ImageRecord[],
  ): Promise<{ image: ImageRecord; captions: CaptionRecord[] }[]> => {
    const captions = await lake.catalog.captions.byImages(candidates.map((c) => c.id));
    return candidates
      .filter((i) => q.layer === undefined || i.layer === q.layer)
      .filter((i) => q.status === undefined || i.status === q.status)
      .filter((i) => q.split === undefined || (q.split === 'none' ? i.split === null : i.split === q.split))
      .filter((i) => q.source === undefined || i.source === q.source)
      .filter((i) => q.updatedFrom === undefined || i.updatedAt >= new Date(q.updatedFrom).toISOString())
      .filter((i) => q.updatedTo === undefined || i.updatedAt < new Date(q.updatedTo).toISOString())
      .filter((i) => q.minQuality === undefined || (i.quality !== null && i.quality >= q.minQuality))
      .filter((i) => q.maxQuality === undefined || (i.quality !== null && i.quality <= q.maxQuality))
      .filter((i) => attrKey === undefined || ingestAttributesOf(i.attributes)[attrKey] === attrValue)
      .map((image) => ({ image, captions: captions.get(image.id) ?? [] }))
      .filter(
        ({ captions: cs }) => q.captionOrigin === undefined || cs.some((c) => c.origin === q.captionOrigin),
      )
      .filter(
        ({ captions: cs }) =>
          q.modelVersion === undefined || cs.some((c) => c.modelVersion === q.modelVersion),
      );
  };
  const out: Record<string, unknown>[] = [];
  let cursor = q.cursor;
  let scanned = 0;
  for (;;) {
    let batch: ImageRecord[];
    let more: boolean;
    if (ids !== null) {
      const from =
        cursor === undefined ? 0 : ids.findIndex((id) => (descending ? id < cursor! : id > cursor!));
      const slice = from < 0 ? [] : ids.slice(from, from + want);
      batch = await lake.catalog.images.getMany(slice);
      more = from >= 0 && from + want < ids.length;
      cursor = slice[slice.length - 1] ?? cursor;
    } else {
      const page = await lake.catalog.images.list(
        {
          ...(q.layer === undefined ? {} : { layer: q.layer }),
          ...(q.status === undefined ? {} : { status: q.status }),
          ...(q.split === undefined ? {} : { split: q.split === 'none' ? null : q.split }),
          ...(q.source === undefined ? {} : { source: q.source }),
        },
        {
          limit: want,
          ...(descending ? { order: 'desc' as const } : {}),
          ...(cursor === undefined ? {} : { after: cursor }),
        },
      );
      batch = [...page.items];
      more = page.next !== null;
      cursor = page.items[page.items.length - 1]?.id ?? cursor;
    }
    scanned += batch.length;
    for (const { image, captions } of await matches(batch)) {
      out.push(itemView(image, captions));
      if (out.length === want) return { items: out, next: more || image.id !== cursor ? image.id : null };
    }
    if (!more) return { items: out, next: null };
    if (scanned >= want * 20) return { items: out, next: cursor ?? null };
  }
}

function encodeCursor(v: { updatedAt: string; id: string }): string {
  return Buffer.from(JSON.stringify([v.updatedAt, v.id])).toString('base64url');
}

function decodeCursor(s: string): { updatedAt: string; id: string } {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'string')
      return { updatedAt: v[0], id: v[1] };
  } catch {
    // fall through
  }
  throw new PipelineError(ErrorCodes.LAKE_QUERY_REJECTED, 'invalid changes cursor', {
    context: { field: 'since' },
  });
}

/** The object of an image variant. */
function variantObject(image: ImageRecord, variant: string): { key: string; sha256: string } | null {
  if (variant === 'original') return image.objects.bronze ?? null;
  if (variant === 'model-input') return image.objects.gold ?? image.objects.silver ?? null;
  // The thumbnail is the silver object of the lineage that is not the model input.
  const model = image.objects.silver?.key;
  return image.lineage?.objects.find((o) => o.layer === 'silver' && o.key !== model) ?? null;
}

function contentTypeOf(key: string): string {
  const ext = key.slice(key.lastIndexOf('.') + 1);
  return (
    (
      {
        jpg: 'image/jpeg',
        png: 'image/png',
        webp: 'image/webp',
        gif: 'image/gif',
        avif: 'image/avif',
        tiff: 'image/tiff',
      } as Record<string, string>
    )[ext] ?? 'application/octet-stream'
  );
}

async function sendObject(
  lake: Lake,
  req: FastifyRequest,
  reply: FastifyReply,
  object: { key: string; sha256: string },
): Promise<FastifyReply> {
  const etag = `"${object.sha256}"`;
  const head = await lake.store.head(object.key);
  if (head === null) throw notFound('object', object.key);
  void reply
    .header('etag', etag)
    .header('accept-ranges', 'bytes')
    .header('cache-control', 'private, max-age=31536000, immutable')
    .type(contentTypeOf(object.key));
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  const size = head.size;
  const range = req.headers.range;
  if (typeof range === 'string') {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    let start = m?.[1] === '' ? size - Number(m[2]) : Number(m?.[1]);
    let end = m?.[2] === '' || m?.[1] === '' ? size - 1 : Number(m?.[2]);
    if (m === null || Number.isNaN(start) || Number.isNaN(end) || start > end || start >= size) {
      return reply.code(416).header('content-range', `bytes */${size}`).send();
    }
    start = Math.max(0, start);
    end = Math.min(end, size - 1);
    const bytes = await lake.store.get(object.key);
    return reply
      .code(206)
      .header('content-range', `bytes ${start}-${end}/${size}`)
      .send(Buffer.from(bytes.subarray(start, end + 1)));
  }
  return reply.header('content-length', size).send(await lake.store.getStream(object.key));
}

/** Lake counts for the dashboard and the gauges. */
export async function lakeSummary(lake: Lake): Promise<Record<string, unknown>> {
  const [layers, statuses, splits, sources, deadLetters, datasets] = await Promise.all([
    lake.catalog.images.countBy('layer'),
    lake.catalog.images.countBy('status'),
    lake.catalog.images.countBy('split'),
    lake.catalog.images.countBy('source'),
    lake.catalog.deadLetters.countOpenByCode(),
    lake.catalog.datasets.list({ limit: 1000 }),
  ]);
  return { layers, statuses, splits, sources, deadLetters, datasetVersions: datasets.items.length };
}

/** Register the Query Data Service routes on `app` (made by `createHttpServer`). */
export function registerQueryRoutes(app: FastifyInstance, deps: QueryRoutesDeps): void {
  const { lake } = deps;

  app.get('/v1/lake/summary', { config: READ }, async () => lakeSummary(lake));

  app.get('/v1/lake/items', { config: READ, schema: { querystring: ITEMS_QUERY } }, async (req) =>
    listItems(lake, req.query as ItemsQuery),
  );

  app.get(
    '/v1/lake/items/:imageId',
    {
      config: READ,
      schema: { params: { type: 'object', required: ['imageId'], properties: { imageId: IMAGE_ID } } },
    },
    async (req) => {
      const { imageId } = req.params as { imageId: string };
      const image = await lake.catalog.images.get(imageId);
      if (image === null) throw notFound('image', imageId);
      const [captions, lineage, letters] = await Promise.all([
        lake.catalog.captions.byImage(imageId),
        lineageOf(lake.catalog, imageId),
        lake.catalog.deadLetters.list({ imageKey: imageId, state: 'all' }, { limit: 100 }),
      ]);
      return {
        ...itemView(image, captions),
        lineage: { ...image.lineage, report: lineage },
        deadLetters: letters.items.map((d) => ({
          id: d.id,
          errorCode: d.errorCode,
          errorMessage: d.errorMessage,
          topology: d.topology,
          step: d.step,
          lastFailureAt: d.lastFailureAt,
          replayedAt: d.replayedAt,
        })),
      };
    },
  );

  app.get(
    '/v1/lake/items/:imageId/image',
    {
      config: READ,
      schema: {
        params: { type: 'object', required: ['imageId'], properties: { imageId: IMAGE_ID } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            variant: { type: 'string', enum: ['original', 'model-input', 'thumbnail'], default: 'original' },
            presign: { type: 'boolean', default: false },
          },
        },
      },
    },
    async (req, reply) => {
      const { imageId } = req.params as { imageId: string };
      const { variant, presign } = req.query as { variant: string; presign: boolean };
      const image = await lake.catalog.images.get(imageId);
      if (image === null) throw notFound('image', imageId);
      const object = variantObject(image, variant);
      if (object === null) throw notFound(`${variant} of image`, imageId);
      if (presign) {
        // On S3 the client fetches the bytes from the object store itself, not through this
        // process; a store without presigned URLs (fs) streams them as without `presign`.
        const url = await lake.store.presignGet(object.key, PRESIGN_TTL_S);
        if (url !== null) return reply.header('cache-control', 'no-store').redirect(url, 307);
      }
      return sendObject(lake, req, reply, object);
    },
  );

  app.get(
    '/v1/lake/changes',
    {
      config: READ,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'string', maxLength: 512 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 200 },
            status: ITEMS_QUERY.properties.status,
          },
        },
      },
    },
    async (req) => {
      const q = req.query as { since?: string; limit: number; status?: ImageStatus };
      // The horizon: writes younger than the lag may still be in flight with an earlier
      // timestamp, so a page never reaches past it and they are served on a later poll.
      const horizon = new Date(deps.clock.now() - (deps.changesLagMs ?? 5_000)).toISOString();
      const after = q.since === undefined ? null : decodeCursor(q.since);
      const rows = await lake.catalog.images.listUpdated(after, horizon, q.limit);
      const last = rows[rows.length - 1];
      const captions = await lake.catalog.captions.byImages(rows.map((r) => r.id));
      return {
        items: rows
          .filter((r) => q.status === undefined || r.status === q.status)
          .map((r) => itemView(r, captions.get(r.id) ?? [])),
        next: last === undefined ? (q.since ?? null) : encodeCursor(last),
        horizon,
        more: rows.length === q.limit,
      };
    },
  );

  app.get(
    '/v1/lake/datasets',
    {
      config: READ,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1, maxLength: 200 } },
        },
      },
    },
    async (req) => {
      const { name } = req.query as { name?: string };
      const items =
        name === undefined
          ? (await lake.catalog.datasets.list({ limit: 1000 })).items
          : await lake.catalog.datasets.listByName(name, 1000);
      return { items };
    },
  );

  app.post(
    '/v1/lake/datasets',
    {
      config: ADMIN,
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            includeMachineCaptions: { type: 'boolean' },
            filter: {
              type: 'object',
              additionalProperties: false,
              properties: {
                splits: { type: 'array', items: { type: 'string', enum: ['train', 'val', 'test'] } },
                sources: { type: 'array', items: { type: 'string' } },
                minQuality: { type: 'number' },
                curatedBefore: ISO,
              },
            },
          },
        },
      },
    },
    async (req, reply) => {
      const body = req.body as {
        name: string;
        includeMachineCaptions?: boolean;
        filter?: Record<string, unknown>;
      };
      const result = await snapshotDataset(lake, {
        name: body.name,
        ...(body.filter === undefined ? {} : { filter: body.filter }),
        ...(body.includeMachineCaptions === undefined
          ? {}
          : { includeMachineCaptions: body.includeMachineCaptions }),
      });
      return reply.code(result.created ? 201 : 200).send({
        record: result.record,
        created: result.created,
        skippedWithoutCaptions: result.skippedWithoutCaptions,
      });
    },
  );

  const datasetParams = { type: 'object', required: ['id'], properties: { id: DATASET_ID } } as const;
  app.get('/v1/lake/datasets/:id', { config: READ, schema: { params: datasetParams } }, async (req) => {
    const { id } = req.params as { id: string };
    const record = await lake.catalog.datasets.get(id);
    if (record === null) throw notFound('dataset version', id);
    return record;
  });

  app.get(
    '/v1/lake/datasets/:id/manifest',
    { config: READ, schema: { params: datasetParams } },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      if ((await lake.catalog.datasets.get(id)) === null) throw notFound('dataset version', id);
      return reply.type('application/json').send(await lake.store.getStream(manifestKey(id)));
    },
  );

  app.get(
    '/v1/lake/datasets/:id/diff',
    {
      config: READ,
      schema: {
        params: datasetParams,
        querystring: {
          type: 'object',
          required: ['from'],
          additionalProperties: false,
          properties: { from: DATASET_ID },
        },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const { from } = req.query as { from: string };
      return diffDatasets(lake, from, id);
    },
  );

  app.get(
    '/v1/lake/datasets/:id/export.parquet',
    { config: ADMIN, schema: { params: datasetParams } },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      const dir = await mkdtemp(join(tmpdir(), 'captionflow-export-'));
      const path = join(dir, `${id}.parquet`);
      try {
        await exportDatasetParquet(lake, id, path);
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      const stream = createReadStream(path);
      stream.on('close', () => void rm(dir, { recursive: true, force: true }));
      return reply
        .type('application/vnd.apache.parquet')
        .header('content-length', (await stat(path)).size)
        .header('content-disposition', `attachment; filename="${id}.parquet"`)
        .send(stream);
    },
  );

  // WebDataset: the shard list (with the brace pattern and URLs the readers take), then each
  // shard streamed by name, so `webdataset.WebDataset(urls)` or HF `load_dataset("webdataset")`
  // fetches them in parallel and resumes per shard.
  const wdsQuery = {
    type: 'object',
    additionalProperties: false,
    properties: {
      shardSize: { type: 'integer', minimum: 1, maximum: MAX_SHARD_SIZE, default: DEFAULT_SHARD_SIZE },
      split: { type: 'string', enum: ['train', 'val', 'test'] },
    },
  } as const;
  type WdsQuery = { shardSize: number; split?: Split };
  app.get(
    '/v1/lake/datasets/:id/webdataset',
    { config: READ, schema: { params: datasetParams, querystring: wdsQuery } },
    async (req) => {
      const { id } = req.params as { id: string };
      const q = req.query as WdsQuery;
      const plan = webDatasetPlan(await manifestOf(lake, id), q);
      const query = `shardSize=${plan.shardSize}${plan.split === null ? '' : `&split=${plan.split}`}`;
      return {
        ...plan,
        shards: plan.shards.map((s) => ({
          ...s,
          url: `/v1/lake/datasets/${id}/webdataset/${s.name}?${query}`,
        })),
      };
    },
  );

  app.get(
    '/v1/lake/datasets/:id/webdataset/:shard',
    {
      config: ADMIN,
      schema: {
        params: {
          type: 'object',
          required: ['id', 'shard'],
          properties: {
            id: DATASET_ID,
            shard: { type: 'string', pattern: '^ds-[0-9a-f]{12}(-(train|val|test))?-[0-9]{6}\\.tar$' },
          },
        },
        querystring: wdsQuery,
      },
    },
    async (req, reply) => {
      const { id, shard } = req.params as { id: string; shard: string };
      const q = req.query as WdsQuery;
      const manifest = await manifestOf(lake, id);
      const index = shardIndexOf(webDatasetPlan(manifest, q), shard);
      if (index === null) throw notFound(`shard of ${id}`, shard);
      const out = webDatasetShard(lake, manifest, index, q);
      void reply.header('etag', out.etag).header('cache-control', 'private, max-age=31536000, immutable');
      if (req.headers['if-none-match'] === out.etag) {
        out.body.destroy();
        return reply.code(304).send();
      }
      return reply
        .type('application/x-tar')
        .header('content-length', out.bytes)
        .header('content-disposition', `attachment; filename="${shard}"`)
        .send(out.body);
    },
  );

  app.post(
    '/v1/lake/sql',
    {
      config: READ,
      schema: {
        body: {
          type: 'object',
          required: ['sql'],
          additionalProperties: false,
          properties: {
            sql: { type: 'string', minLength: 1, maxLength: 20_000 },
            maxRows: { type: 'integer', minimum: 1, maximum: 10_000 },
          },
        },
      },
    },
    async (req) => {
      const { sql, maxRows } = req.body as { sql: string; maxRows?: number };
      const rows = await runLakeSql(lake, sql, {
        cacheDir: deps.cacheDir,
        maxRows: Math.min(maxRows ?? deps.sql?.maxRows ?? 1000, deps.sql?.maxRows ?? 10_000),
        ...(deps.sql?.timeoutMs === undefined ? {} : { timeoutMs: deps.sql.timeoutMs }),
      });
      return { rows, count: rows.length };
    },
  );

  const dlqQuery = {
    type: 'object',
    additionalProperties: false,
    properties: {
      code: { type: 'string', minLength: 1, maxLength: 128 },
      topic: { type: 'string', minLength: 1, maxLength: 255 },
      topology: { type: 'string', minLength: 1, maxLength: 128 },
      imageId: IMAGE_ID,
      from: ISO,
      to: ISO,
      state: { type: 'string', enum: ['open', 'replayed', 'all'], default: 'open' },
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
      cursor: { type: 'string', maxLength: 512 },
    },
  } as const;
  const toFilter = (q: Record<string, unknown>): DeadLetterQuery => ({
    ...(typeof q.code === 'string' ? { code: q.code } : {}),
    ...(typeof q.topic === 'string' ? { topic: q.topic } : {}),
    ...(typeof q.topology === 'string' ? { topology: q.topology } : {}),
    ...(typeof q.imageId === 'string' ? { imageKey: q.imageId } : {}),
    ...(typeof q.from === 'string' ? { from: q.from } : {}),
    ...(typeof q.to === 'string' ? { to: q.to } : {}),
    ...(typeof q.state === 'string' ? { state: q.state as 'open' } : {}),
  });

  app.get('/v1/lake/dead-letters', { config: READ, schema: { querystring: dlqQuery } }, async (req) => {
    const q = req.query as Record<string, unknown> & { limit: number; cursor?: string };
    const page = await lake.catalog.deadLetters.list(toFilter(q), {
      limit: q.limit,
      ...(q.cursor === undefined ? {} : { after: q.cursor }),
    });
    return {
      items: page.items.map(({ originalValue: _v, originalHeaders: _h, ...rest }) => rest),
      next: page.next,
    };
  });

  app.get(
    '/v1/lake/dead-letters/:id',
    {
      config: READ,
      schema: {
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
        },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const letter = await lake.catalog.deadLetters.get(id);
      if (letter === null) throw notFound('dead letter', id);
      return { ...letter, replay: await lake.catalog.deadLetters.replayOf(id) };
    },
  );

  app.post(
    '/v1/lake/dead-letters/replay',
    {
      config: ADMIN,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ids: {
              type: 'array',
              minItems: 1,
              maxItems: 1000,
              items: { type: 'string', minLength: 1, maxLength: 64 },
            },
            filter: {
              type: 'object',
              additionalProperties: false,
              properties: {
                code: dlqQuery.properties.code,
                topic: dlqQuery.properties.topic,
                topology: dlqQuery.properties.topology,
                imageId: IMAGE_ID,
                from: ISO,
                to: ISO,
              },
            },
            max: { type: 'integer', minimum: 1, maximum: 10_000 },
          },
        },
      },
    },
    async (req) => {
      if (deps.producer === undefined)
        throw new PipelineError(
          ErrorCodes.BROKER_UNAVAILABLE,
          'this process cannot produce: replay from `captionflow run` or `captionflow dlq replay`',
          { retriable: true },
        );
      const body = req.body as { ids?: string[]; filter?: Record<string, unknown>; max?: number };
      if (body.ids === undefined && body.filter === undefined)
        throw new PipelineError(ErrorCodes.LAKE_QUERY_REJECTED, 'give `ids` or a `filter`', {
          context: { field: 'ids' },
        });
      const { state: _s, ...filter } = toFilter(body.filter ?? {});
      return replayDeadLetters(
        { catalog: lake.catalog, producer: deps.producer, clock: deps.clock },
        body.ids !== undefined
          ? { ids: body.ids }
          : { filter, ...(body.max === undefined ? {} : { max: body.max }) },
        callerOf(req),
      );
    },
  );
}
