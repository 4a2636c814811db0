import { join } from 'node:path';
import type { App } from '../app.ts';
import { repairConsistency } from '../../runtime/lake/consistency.ts';
import { DiskEventLog } from '../../runtime/log/disk-log.ts';
import { retrain } from '../models/retrain.ts';
import type { TrainDeps } from '../models/training-job.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { LogProducer } from '../../runtime/ports.ts';
import type { JobSpec } from './scheduler.ts';
import type { JobDeclaration } from '../../runtime/engine/pipeline.ts';
import { Topics } from '../../schemas/topics.ts';

/** The model lifecycle's dependencies on an app (training scratch space under the data dir). */
export function trainDepsOf(app: App, producer: LogProducer, logger: Logger = app.logger): TrainDeps {
  return { objects: app.objects, catalog: app.catalog, producer, serde: app.serde, clock: app.clock, bucket: app.lake.bucket, logger, workDir: join(app.dataDir, 'training') };
}

/** Settings of the standard jobs. */
export interface StandardJobOptions {
  /** How often the retrain trigger looks for enough new data (ms). */
  readonly retrainCheckMs: number;
  readonly retrainMinNewItems: number;
  readonly retrainConfig: 'tiny' | 'default';
  readonly promotionMargin: number;
  /** How often the lake is checked against the catalog (ms). */
  readonly consistencyEveryMs: number;
}

/** The standard jobs as the pipeline lists them (names and descriptions shared with {@link standardJobs}). */
export const standardJobDeclarations = {
  retrain: {
    name: 'retrain',
    description: 'snapshot new curated data, fine-tune from the champion, evaluate, promote or reject',
    trigger: 'every jobs.retrainCheckMs, when enough new curated items arrived',
    reads: ['catalog: images (curated), dataset versions, models'],
    emits: [Topics.modelRegistered, Topics.modelPromoted, Topics.jobRun],
  },
  'lake-consistency': {
    name: 'lake-consistency',
    description: 'report and repair orphans and missing objects between the lake and the catalog',
    trigger: 'every jobs.consistencyEveryMs',
    reads: ['objects: silver, gold, manifests', 'catalog: images'],
    emits: [Topics.jobRun],
  },
  'log-retention': {
    name: 'log-retention',
    description: 'apply the embedded log retention',
    trigger: 'hourly (embedded log only)',
    reads: ['the embedded event log'],
    emits: [Topics.jobRun],
  },
} as const satisfies Record<string, JobDeclaration>;

/**
 * The jobs the old stack ran in Airflow: the incremental-learning trigger (new curated data →
 * snapshot, fine-tune, evaluate, promote or reject), the lake/catalog consistency repair, and
 * the embedded log's retention. Bronze is never swept: it is the raw archive dead letters are
 * replayed from.
 */
export function standardJobs(app: App, options: StandardJobOptions): JobSpec[] {
  const jobs: JobSpec[] = [
    {
      name: standardJobDeclarations.retrain.name,
      description: standardJobDeclarations.retrain.description,
      everyMs: options.retrainCheckMs,
      retry: { attempts: 2 },
      run: async (ctx) => {
        const producer = await app.log.producer();
        try {
          const outcome = await retrain(
            trainDepsOf(app, producer, ctx.logger),
            {
              modelName: app.config.models.name,
              datasetName: 'default',
              config: options.retrainConfig,
              minNewItems: options.retrainMinNewItems,
              trainOnAugmentations: app.config.models.trainOnAugmentations,
              gate: { metric: 'ciderD', margin: options.promotionMargin },
              force: ctx.params.force === 'true',
              runId: ctx.runId,
            },
          );
          return {
            status: outcome.status,
            reason: outcome.reason,
            ...(outcome.datasetId === undefined ? {} : { dataset: outcome.datasetId }),
            ...(outcome.candidate === undefined ? {} : { candidate: outcome.candidate }),
            champion: outcome.champion ?? '',
            ...(outcome.candidateEval === undefined ? {} : { candidateCiderD: String(outcome.candidateEval.metrics.ciderD ?? '') }),
          };
        } finally {
          await producer.close();
        }
      },
    },
    {
      name: standardJobDeclarations['lake-consistency'].name,
      description: standardJobDeclarations['lake-consistency'].description,
      everyMs: options.consistencyEveryMs,
      run: async () => {
        const r = await repairConsistency(app.objects, app.catalog, { orphanLayers: ['silver', 'gold', 'manifests'], graceMs: 24 * 3_600_000 });
        return {
          orphans: String(r.report.orphanObjects.length),
          missing: String(r.report.missingObjects.length),
          deleted: String(r.deleted.length),
          marked: String(r.marked.length),
          sweptIncomplete: String(r.sweptIncomplete),
        };
      },
    },
  ];
  if (app.log instanceof DiskEventLog) {
    const log = app.log;
    const { name, description } = standardJobDeclarations['log-retention'];
    jobs.push({ name, description, everyMs: 3_600_000, run: () => Promise.resolve({ deleted: String(log.compact()) }) });
  }
  return jobs;
}
