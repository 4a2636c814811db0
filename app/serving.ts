/**
 * Caption serving on an app: the registry as model source, hot swap on the app's event log, the
 * settings of `config.serving`, and the captions route on an HTTP edge.
 */
import type { FastifyInstance } from 'fastify';
import type { App } from './app.ts';
import { registerCaptionRoutes } from '../services/serving/caption-route.ts';
import { registryModelSource, type ModelSource } from '../services/serving/model-source.ts';
import { startServing, type Serving } from '../services/serving/serving.ts';
import type { CaptionServiceOptions } from '../services/serving/caption-service.ts';
import type { Config } from '../runtime/config.ts';

/** The caption service settings of a configuration. */
export function servingOptions(config: Config): CaptionServiceOptions {
  const s = config.serving;
  return {
    batching: {
      maxBatchSize: s.maxBatchSize,
      maxQueueDelayMs: s.maxQueueDelayMs,
      fillWait: s.fillWait,
      queueLimit: s.queueLimit,
      stagedBatches: s.stagedBatches,
    },
    intraOpThreads: s.intraOpThreads,
    graceMs: s.graceMs,
    maxImageBytes: s.maxImageBytes,
    maxPixels: s.maxPixels,
  };
}

/** Start serving the app's model (`config.models.name`, alias `config.serving.alias`), hot-swapped on `model.promoted`. */
export function startAppServing(
  app: App,
  source: ModelSource = registryModelSource(app.catalog, app.objects, app.config.models.name),
): Promise<Serving> {
  return startServing({
    pool: app.pool,
    metrics: app.metrics,
    logger: app.logger,
    source,
    alias: app.config.serving.alias,
    options: servingOptions(app.config),
    ...(app.config.serving.canaryShare > 0 ? { canary: { alias: app.config.serving.canaryAlias, share: app.config.serving.canaryShare } } : {}),
    promotions: {
      log: app.log,
      serde: app.serde,
      modelName: app.config.models.name,
      physical: app.topics.topic,
    },
  });
}

/** Register `POST /v1/captions` on `http`. */
export function registerAppCaptionRoutes(http: FastifyInstance, app: App, serving: Serving): Promise<void> {
  const s = app.config.serving;
  return registerCaptionRoutes(http, {
    service: serving.service,
    lake: { catalog: app.catalog, objects: app.objects },
    limits: {
      maxImages: s.maxImages,
      maxImageBytes: s.maxImageBytes,
      defaultTimeoutMs: s.requestTimeoutMs,
      maxTimeoutMs: s.maxRequestTimeoutMs,
    },
  });
}
