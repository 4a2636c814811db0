/**
 * The HTTP doors of captionflow's ingest service: image upload, mobile capture and caption
 * review. Each turns a request into events (through topologies/ingest.ts) or catalog writes;
 * the shared edge (runtime/http/server.ts) supplies auth, error mapping, health and metrics.
 * The routes are documented in docs/openapi.yaml (a unit test keeps the two in step).
 */
import type { FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import type { Catalog } from '../../runtime/catalog/catalog.ts';
import type { IngestDeps } from '../../topologies/ingest.ts';
import { registerCaptureRoute } from './capture-route.ts';
import { validateIngestLimits, type IngestLimits } from './limits.ts';
import { RecentCaptures } from './recent-captures.ts';
import { registerReviewRoutes } from './review-route.ts';
import { registerUploadRoute } from './upload-route.ts';
import type { CaptureCaptioner } from './capture-caption.ts';

export { DEFAULT_INGEST_LIMITS, type IngestLimits } from './limits.ts';
export type { CaptureCaptionAnswer, CaptureCaptioner, CaptureCaptionStatus } from './capture-caption.ts';

/** What the ingest routes need. */
export interface IngestRoutesDeps {
  readonly ingest: IngestDeps;
  readonly catalog: Catalog;
  readonly limits: IngestLimits;
  /** How many recent captures this process remembers to answer retries 200 (default 10 000). */
  readonly recentCaptures?: number;
  /** Captions a capture's image for its answer (caption serving in this process); without it answers say `serving_unavailable`. */
  readonly captioner?: CaptureCaptioner;
}

/**
 * Register on `app` (made by `createHttpServer`): `POST /v1/images`, `POST /v1/captures`,
 * `GET /v1/review/queue` and `POST /v1/review/{imageId}`, all behind the API key.
 * The routes live in their own encapsulated context with @fastify/multipart, so other services
 * on the same server are not affected by (and may register) their own multipart settings.
 * @throws PipelineError CONFIG_INVALID when `limits` are not positive integers.
 */
export async function registerIngestRoutes(app: FastifyInstance, deps: IngestRoutesDeps): Promise<void> {
  const limits = validateIngestLimits(deps.limits);
  const recent = new RecentCaptures(deps.recentCaptures ?? 10_000);
  await app.register(async (scope) => {
    // Per-route limits are passed on each read; these are the fallback for any other reader.
    await scope.register(multipart, {
      throwFileSizeLimit: false,
      limits: {
        files: limits.maxFiles,
        fileSize: Math.min(limits.maxFileBytes, deps.ingest.maxBytes),
        fieldSize: limits.maxFieldBytes,
        fields: 3,
        parts: limits.maxFiles + 3,
      },
    });
    registerUploadRoute(scope, deps.ingest, limits);
    registerCaptureRoute(scope, deps.ingest, deps.catalog, limits, recent, deps.captioner);
    registerReviewRoutes(scope, deps.catalog, deps.ingest.clock);
  });
}
