/**
 * Caption serving assembled: the model host on a model source, the caption service on the
 * worker pool, and (given an event log) the `model.promoted` listener that hot-swaps models.
 */
import type { EventLog, Serde, WorkerPool } from '../../runtime/ports.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { Metrics } from '../../runtime/metrics.ts';
import { CaptionService, type CaptionServiceOptions } from './caption-service.ts';
import { ModelHost } from './model-host.ts';
import type { ModelSource } from './model-source.ts';
import { listenForPromotions, type PromotionListener } from './promotion-listener.ts';
import { ServingMetrics } from './serving-metrics.ts';

/** What {@link startServing} needs. */
export interface ServingDeps {
  readonly pool: WorkerPool;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly source: ModelSource;
  /** The alias requests get by default (`champion`). */
  readonly alias: string;
  readonly options: CaptionServiceOptions;
  /** A share of the requests that name no model goes to this alias (see ModelHostOptions.canary). */
  readonly canary?: { readonly alias: string; readonly share: number };
  /** Hot swap on `model.promoted` of `modelName`; without it the models change only on restart. */
  readonly promotions?: {
    readonly log: EventLog;
    readonly serde: Serde;
    readonly modelName: string;
    readonly physical: (logical: string) => string;
  };
}

/** Running caption serving. */
export interface Serving {
  readonly service: CaptionService;
  readonly host: ModelHost;
  /** Stop the listener and the batcher (the pool belongs to the caller). */
  close(): Promise<void>;
}

/**
 * Start serving: listen for promotions first, then load the alias's current version (so a
 * promotion made meanwhile is not missed). Starting without any model is fine: requests get
 * NO_MODEL (503) until the first promotion.
 */
export async function startServing(deps: ServingDeps): Promise<Serving> {
  const metrics = new ServingMetrics(deps.metrics);
  const host: ModelHost = new ModelHost({
    source: deps.source,
    // Called only after `service` exists (swaps start below).
    warmUp: (model): Promise<void> => service.warmUp(model),
    logger: deps.logger.child({ component: 'serving' }),
    metrics,
    defaultAlias: deps.alias,
    ...(deps.canary === undefined ? {} : { canary: deps.canary }),
  });
  const service: CaptionService = new CaptionService(deps.pool, host, metrics, deps.options);
  let listener: PromotionListener | undefined;
  if (deps.promotions !== undefined) {
    listener = await listenForPromotions({
      ...deps.promotions,
      logger: deps.logger.child({ component: 'serving' }),
      host,
    });
  }
  const served = await host.refresh();
  if (!served)
    deps.logger.warn(
      { alias: deps.alias },
      'no model to serve yet: captions answer 503 NO_MODEL until one is promoted',
    );
  return {
    service,
    host,
    close: async () => {
      service.close();
      await listener?.stop();
    },
  };
}
