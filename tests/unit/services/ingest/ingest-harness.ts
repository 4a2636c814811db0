/**
 * An HTTP edge with the ingest routes on a temp lake (fs objects + SQLite catalog), an
 * in-memory event log and the Avro serde: what the ingest route tests drive with `app.inject`.
 */
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../../../runtime/http/server.ts';
import { createLogger } from '../../../../runtime/logger.ts';
import { Metrics } from '../../../../runtime/metrics.ts';
import { FakeClock } from '../../../../runtime/clock.ts';
import { createMemoryLog } from '../../../../runtime/log/memory-log.ts';
import type { LocalEventLog } from '../../../../runtime/log/local-log.ts';
import type { ImageIngested, CaptureReceived } from '../../../../schemas/generated/types.ts';
import { Topics } from '../../../../schemas/topics.ts';
import type { IngestDeps } from '../../../../topologies/ingest.ts';
import {
  DEFAULT_INGEST_LIMITS,
  registerIngestRoutes,
  type CaptureCaptioner,
  type IngestLimits,
} from '../../../../services/ingest/routes.ts';
import { tempLake } from '../../../topology/lake/harness.ts';

/** The API key the harness accepts. */
export const API_KEY = 'test-key-4f2a';
/** Headers carrying {@link API_KEY}. */
export const AUTH = { 'x-api-key': API_KEY } as const;

/** Options of {@link ingestHarness}. */
export interface HarnessOptions {
  readonly limits?: Partial<IngestLimits>;
  /** `IngestDeps.maxBytes` (default 1 MB). */
  readonly maxBytes?: number;
  /** Called on the first server before the ingest routes are registered (e.g. to add an onRoute hook). */
  readonly beforeRoutes?: (app: FastifyInstance) => void;
  /** The capture captioner (caption serving in the same process); none by default. */
  readonly captioner?: CaptureCaptioner;
}

/** A running harness. */
export interface IngestHarness {
  readonly app: FastifyInstance;
  readonly ingest: IngestDeps;
  readonly lake: Awaited<ReturnType<typeof tempLake>>;
  readonly log: LocalEventLog;
  /** Every object key in the lake. */
  keys(): Promise<string[]>;
  ingested(): Promise<ImageIngested[]>;
  captures(): Promise<CaptureReceived[]>;
  /** A second server on the same lake and log, as after a restart or on another replica. */
  restart(): Promise<FastifyInstance>;
  close(): Promise<void>;
}

async function server(
  ingest: IngestDeps,
  lake: IngestHarness['lake'],
  limits: IngestLimits,
  beforeRoutes?: (app: FastifyInstance) => void,
  captioner?: CaptureCaptioner,
): Promise<FastifyInstance> {
  const app = createHttpServer({
    logger: createLogger({ level: 'silent' }),
    metrics: new Metrics(),
    apiKeys: [API_KEY],
  });
  beforeRoutes?.(app);
  await registerIngestRoutes(app, {
    ingest,
    catalog: lake.deps.catalog,
    limits,
    ...(captioner === undefined ? {} : { captioner }),
  });
  return app;
}

/** Start a harness. */
export async function ingestHarness(options: HarnessOptions = {}): Promise<IngestHarness> {
  const lake = await tempLake();
  const log = createMemoryLog();
  const ingest: IngestDeps = {
    objects: lake.deps.objects,
    bucket: 'lake',
    producer: await log.producer(),
    serde: lake.serde,
    clock: new FakeClock(),
    maxBytes: options.maxBytes ?? 1_000_000,
  };
  const limits = { ...DEFAULT_INGEST_LIMITS, ...options.limits };
  const apps = [await server(ingest, lake, limits, options.beforeRoutes, options.captioner)];
  const decodeAll = async <T>(topic: string): Promise<T[]> =>
    Promise.all(log.readAll(topic).map(async (r) => (await lake.serde.decode(topic, r.value!)).value as T));
  return {
    app: apps[0]!,
    ingest,
    lake,
    log,
    async keys() {
      const out: string[] = [];
      for await (const e of lake.deps.objects.list('', { recursive: true })) out.push(e.key);
      return out;
    },
    ingested: () => decodeAll<ImageIngested>(Topics.imageIngested.name),
    captures: () => decodeAll<CaptureReceived>(Topics.captureReceived.name),
    async restart() {
      const app = await server(ingest, lake, limits);
      apps.push(app);
      return app;
    },
    async close() {
      for (const app of apps) await app.close();
      await log.close();
      await lake.close();
    },
  };
}
