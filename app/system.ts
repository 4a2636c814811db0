/**
 * The running system of one process: the pipeline's topologies, the HTTP edge with every route
 * (ingest doors, caption serving, the Query Data Service, admin; lake gauges on /metrics), the
 * scheduler — started together, stopped together (drain: stop taking
 * requests, finish the scheduler's run, let in-flight records commit). `captionflow run` and
 * `npm start` (after its first-run job) are this.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerQueryRoutes } from '../services/query/routes.ts';
import { registerModelReadRoutes } from '../services/query/model-routes.ts';
import { registerLakeGauges } from '../services/query/lake-gauges.ts';
import { registerDashboardRoutes } from '../services/dashboard/routes.ts';
import type { RunningTopology } from '../runtime/engine/runner.ts';
import { createHttpServer } from '../runtime/http/server.ts';
import { registerTopologyAdminRoutes } from '../runtime/http/topology-admin.ts';
import { registerIngestRoutes } from '../services/ingest/routes.ts';
import { DEFAULT_INGEST_LIMITS } from '../services/ingest/limits.ts';
import { captureCaptioner } from '../services/serving/capture-captioner.ts';
import type { App } from './app.ts';
import { jobScheduler } from './jobs/jobs-cli.ts';
import { registerAppCaptionRoutes, startAppServing } from './serving.ts';
import { registerJobAdminRoutes } from './jobs/admin-routes.ts';
import { registerModelAdminRoutes } from './models/admin-routes.ts';
import { trainDepsOf } from './jobs/standard-jobs.ts';
import { ingestDeps } from './pipeline-job.ts';
import { startTopologies } from './pipeline.ts';

/** What runs. */
export interface SystemOptions {
  /** Run the pipeline's topologies (default true). */
  readonly topologies?: boolean;
  /** Run the scheduler's jobs (default true). */
  readonly scheduler?: boolean;
  /** The ingest doors, the Query Data Service, lake gauges and admin routes (default true; false for a serving replica). */
  readonly lakeRoutes?: boolean;
  /** With `lakeRoutes`: the ingest doors and the topology, job and model admin routes too (default true; false for a query replica). */
  readonly doorsAndAdmin?: boolean;
  /** Caption serving: `POST /v1/captions`, hot-swapped on `model.promoted` (default true). */
  readonly serving?: boolean;
  /** API keys accepted on mutating and admin routes; default: the configured ones. */
  readonly apiKeys?: readonly string[];
}

/** `captionflow serve`: caption serving only. */
export const SERVING_REPLICA: SystemOptions = { topologies: false, scheduler: false, lakeRoutes: false };

/**
 * `captionflow query`: the Query Data Service (`/v1/lake/…`), the dashboard at `/`, lake gauges
 * on /metrics — no topologies, no scheduler, no serving, no ingest doors or admin routes, so it
 * consumes no topic and needs no model; it produces only when an admin replays dead letters.
 */
export const QUERY_REPLICA: SystemOptions = { topologies: false, scheduler: false, serving: false, doorsAndAdmin: false };

/** A running system. */
export interface RunningSystem {
  /** Where the HTTP edge listens. */
  readonly url: string;
  readonly topologies: readonly RunningTopology[];
  /** Settles with the first topology that failed (null once the system stopped cleanly). */
  readonly failed: Promise<{ name: string; err: unknown } | null>;
  /** Drain and stop everything (idempotent); the app stays open for the caller to close. */
  stop(): Promise<void>;
}

/**
 * The API key of a local, embedded installation: the configured keys when there are any, else
 * one generated once into `<dataDir>/api-key` (mode 0600) — so a first run can be tried with
 * curl at once, and the key never appears in logs or in the repository.
 */
export function localApiKeys(app: App): { keys: readonly string[]; file: string | null } {
  if (app.config.http.apiKeys.length > 0 || app.config.mode !== 'embedded') return { keys: app.config.http.apiKeys, file: null };
  const file = join(app.dataDir, 'api-key');
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return { keys: [readFileSync(file, 'utf8').trim()], file };
}

/** Start the topologies, the HTTP edge and the scheduler on `app`. */
export async function startSystem(app: App, options: SystemOptions = {}): Promise<RunningSystem> {
  const { config } = app;
  const running = options.topologies === false ? [] : await startTopologies(app);
  const producer = await app.log.producer();
  const serving = options.serving === false ? undefined : await startAppServing(app);
  const http = createHttpServer({
    logger: app.logger,
    metrics: app.metrics,
    apiKeys: options.apiKeys ?? config.http.apiKeys,
    ...(config.http.rateLimit.enabled ? { rateLimit: config.http.rateLimit } : {}),
    readiness: {
      catalog: async () => void (await app.catalog.images.list({}, { limit: 1 })),
      // A serving replica is ready once a model serves (nginx and compose health checks wait for it).
      ...(serving === undefined || options.lakeRoutes !== false
        ? {}
        : { model: () => (serving.host.versionOf() === undefined ? Promise.reject(new Error(`no model serves ${config.serving.alias} yet`)) : Promise.resolve()) }),
    },
  });
  if (serving !== undefined) await registerAppCaptionRoutes(http, app, serving);
  const doorsAndAdmin = options.lakeRoutes !== false && options.doorsAndAdmin !== false;
  if (doorsAndAdmin) {
    await registerIngestRoutes(http, {
      ingest: ingestDeps(app, producer),
      catalog: app.catalog,
      limits: DEFAULT_INGEST_LIMITS,
      // Captures are answered with a caption at once when this process serves captions.
      ...(serving === undefined ? {} : { captioner: captureCaptioner(serving.service, config.serving.requestTimeoutMs) }),
    });
    registerTopologyAdminRoutes(http, running);
  }
  if (options.lakeRoutes !== false) {
    // Query Data Service and lake gauges (services/query).
    registerQueryRoutes(http, { lake: { store: app.objects, catalog: app.catalog }, producer, clock: app.clock, cacheDir: join(app.dataDir, 'cache', 'sql') });
    registerModelReadRoutes(http, { lake: { store: app.objects, catalog: app.catalog }, modelName: config.models.name });
    registerDashboardRoutes(http); // the lake dashboard at / (services/dashboard)
    registerLakeGauges(app.metrics, { store: app.objects, catalog: app.catalog }, { modelName: config.models.name });
  }
  // Jobs: leases in the catalog make one run of a job at a time across replicas.
  const jobs = await jobScheduler(app);
  if (doorsAndAdmin) {
    registerJobAdminRoutes(http, jobs.scheduler);
    registerModelAdminRoutes(http, { registry: trainDepsOf(app, producer), modelName: config.models.name });
  }
  await http.listen({ host: config.http.host, port: config.http.port });
  const address = http.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.http.port;
  const url = `http://${config.http.host}:${port}`;
  app.logger.info({ url }, 'HTTP edge listening');
  if (options.scheduler !== false) await jobs.scheduler.start();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await http.close();
      await serving?.close();
      await jobs.close();
      await producer.close();
      await Promise.all(running.map((r) => r.stop({ deadlineMs: config.shutdownDeadlineMs })));
    })());
  const failed =
    running.length === 0
      ? new Promise<null>(() => undefined)
      : Promise.race(running.map((r) => r.done.then(() => null, (err: unknown) => ({ name: r.name, err }))));
  return { url, topologies: running, failed, stop };
}
