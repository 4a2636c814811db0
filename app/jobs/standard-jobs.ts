import { join } from 'node:path';
import type { App } from '../app.ts';
import { repairConsistency } from '../../runtime/lake/consistency.ts';
import { DiskEventLog } from '../../runtime/log/disk-log.ts';
import { retrain } from '../models/retrain.ts';
import type { TrainDeps } from '../models/training-job.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { LogProducer } from '../../runtime/ports.ts';
import type { JobSpec } from './scheduler.ts';
import { snapshotDataset } from '../../runtime/lake/datasets.ts';
import { processingFingerprint } from '../../processors/image/normalize-options.ts';
import { reprocessStale } from './reprocess.ts';
import { replayDeadLetters } from './dead-letter-replay.ts';
import type { ModelRegistered } from '../../schemas/generated/types.ts';
import type { JobDeclaration } from '../../runtime/engine/pipeline.ts';
import { Topics } from '../../schemas/topics.ts';

/** The model lifecycle's dependencies on an app (training scratch space under the data dir). */
export function trainDepsOf(app: App, producer: LogProducer, logger: Logger = app.logger): TrainDeps {
  return { objects: app.objects, catalog: app.catalog, producer, serde: app.serde, clock: app.clock, bucket: app.lake.bucket, logger, workDir: join(app.dataDir, 'training'), topicName: app.topics.topic };
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
  /** Cron (UTC) of a scheduled retrain besides the new-data trigger. */
  readonly retrainCron?: string | undefined;
  /** Cron (UTC) of the dataset snapshot. */
  readonly snapshotCron: string;
  readonly leaseTtlMs?: number;
}

/** The standard jobs as the pipeline lists them (names and descriptions shared with {@link standardJobs}). */
export const standardJobDeclarations = {
  retrain: {
    name: 'retrain',
    description: 'snapshot new curated data, fine-tune from the champion, evaluate, promote or reject',
    trigger: 'event: jobs.retrainMinNewItems new curated items (checked every jobs.retrainCheckMs); cron jobs.retrainCron; manual (force=true)',
    reads: ['catalog: images (curated), dataset versions, models'],
    emits: [Topics.modelRegistered, Topics.modelPromoted, Topics.jobRun],
  },
  'dataset-snapshot': {
    name: 'dataset-snapshot',
    description: 'snapshot the curated images as a dataset version (content-addressed: unchanged data writes nothing)',
    trigger: 'cron jobs.snapshotCron; manual (name=<dataset>)',
    reads: ['catalog: images (curated), captions'],
    emits: [Topics.jobRun],
  },
  'lake-consistency': {
    name: 'lake-consistency',
    description: 'report and repair orphans and missing objects between the lake and the catalog',
    trigger: 'every jobs.consistencyEveryMs; event: model.registered; manual',
    reads: ['objects: silver, gold, manifests', 'catalog: images', Topics.modelRegistered.name],
    emits: [Topics.jobRun],
  },
  'log-retention': {
    name: 'log-retention',
    description: 'apply the embedded log retention',
    trigger: 'cron 30 * * * * (embedded log only); manual',
    reads: ['the embedded event log'],
    emits: [Topics.jobRun],
  },
  reprocess: {
    name: 'reprocess',
    description: 'backfill after a processing change: re-emit image.ingested for images normalized with another processing version',
    trigger: 'manual (dryRun=true, limit=<n>)',
    reads: ['catalog: images, captions'],
    emits: [Topics.imageIngested, Topics.jobRun],
  },
  'dead-letter-replay': {
    name: 'dead-letter-replay',
    description: 'produce dead-lettered records again to the topic they came from (all, or code=<ERROR_CODE>)',
    trigger: 'manual (code=<ERROR_CODE>)',
    reads: [Topics.deadLetter.name],
    emits: [Topics.imageIngested, Topics.imageNormalized, Topics.jobRun],
  },
} as const satisfies Record<string, JobDeclaration>;

/** The processing version normalize writes today (what reprocess compares against). */
export function currentProcessingVersion(app: App): string {
  return `${processingFingerprint(app.lake.normalize)}+${app.lake.captions.fingerprint}`;
}

/**
 * The jobs the old stack ran in Airflow: the incremental-learning trigger (new curated data →
 * snapshot, fine-tune, evaluate, promote or reject), dataset snapshots, the lake/catalog
 * consistency repair, the embedded log's retention, the reprocess backfill and the dead-letter
 * replay. Bronze is never swept: it is the raw archive dead letters are replayed from.
 */
export function standardJobs(app: App, options: StandardJobOptions): JobSpec[] {
  const d = standardJobDeclarations;
  const ttl = options.leaseTtlMs === undefined ? {} : { leaseTtlMs: options.leaseTtlMs };
  const withProducer = async <T>(fn: (producer: LogProducer) => Promise<T>): Promise<T> => {
    const producer = await app.log.producer();
    try {
      return await fn(producer);
    } finally {
      await producer.close();
    }
  };
  const jobs: JobSpec[] = [
    {
      name: d.retrain.name,
      description: d.retrain.description,
      ...(options.retrainCron === undefined ? {} : { cron: options.retrainCron }),
      ...ttl,
      triggers: [
        {
          kind: 'poll',
          description: `${options.retrainMinNewItems} new curated items (checked every ${options.retrainCheckMs} ms)`,
          everyMs: options.retrainCheckMs,
          check: async () => {
            // Counted since the champion's dataset version, as retrain() counts; the key is that
            // watermark, so every replica seeing the same condition claims the same trigger.
            const champion = await app.catalog.models.byAlias(app.config.models.name, 'champion');
            const ds = champion?.datasetId ? await app.catalog.datasets.get(champion.datasetId) : null;
            const since = ds?.watermark ?? ds?.createdAt ?? new Date(0).toISOString();
            const fresh = await app.catalog.images.countCuratedSince(since);
            return fresh >= options.retrainMinNewItems ? { key: `curated-since:${since}`, detail: `${fresh} curated items since ${since}` } : null;
          },
        },
      ],
      retry: { attempts: 2 },
      run: (ctx) =>
        withProducer(async (producer) => {
          const outcome = await retrain(trainDepsOf(app, producer, ctx.logger), {
            modelName: app.config.models.name,
            datasetName: 'default',
            config: options.retrainConfig,
            minNewItems: options.retrainMinNewItems,
            trainOnAugmentations: app.config.models.trainOnAugmentations,
            gate: { metric: 'ciderD', margin: options.promotionMargin },
            force: ctx.params.force === 'true',
            runId: ctx.runId,
          });
          return {
            status: outcome.status,
            reason: outcome.reason,
            ...(outcome.datasetId === undefined ? {} : { dataset: outcome.datasetId }),
            ...(outcome.candidate === undefined ? {} : { candidate: outcome.candidate }),
            champion: outcome.champion ?? '',
            ...(outcome.candidateEval === undefined ? {} : { candidateCiderD: String(outcome.candidateEval.metrics.ciderD ?? '') }),
          };
        }),
    },
    {
      name: d['dataset-snapshot'].name,
      description: d['dataset-snapshot'].description,
      cron: options.snapshotCron,
      ...ttl,
      run: async (ctx) => {
        const r = await snapshotDataset({ store: app.objects, catalog: app.catalog }, { name: ctx.params.name ?? 'default' });
        ctx.logger.info({ dataset: r.record.id, created: r.created }, 'dataset snapshot');
        return { dataset: r.record.id, created: String(r.created), total: String(r.record.counts.total) };
      },
    },
    {
      name: d['lake-consistency'].name,
      description: d['lake-consistency'].description,
      everyMs: options.consistencyEveryMs,
      ...ttl,
      triggers: [
        {
          kind: 'topic',
          description: 'model.registered (checks the new model\'s artifacts are in the lake)',
          topic: Topics.modelRegistered.name,
          fire: (value) => {
            const e = value as ModelRegistered;
            return { key: `model.registered:${e.eventId}`, detail: `model.registered ${e.modelVersion}` };
          },
        },
      ],
      run: async (ctx) => {
        const r = await repairConsistency(app.objects, app.catalog, { orphanLayers: ['silver', 'gold', 'manifests'], graceMs: 24 * 3_600_000 });
        ctx.logger.info({ orphans: r.report.orphanObjects.length, missing: r.report.missingObjects.length }, 'lake checked');
        return {
          orphans: String(r.report.orphanObjects.length),
          missing: String(r.report.missingObjects.length),
          deleted: String(r.deleted.length),
          marked: String(r.marked.length),
          sweptIncomplete: String(r.sweptIncomplete),
        };
      },
    },
    {
      name: d.reprocess.name,
      description: d.reprocess.description,
      ...ttl,
      retry: { attempts: 1 },
      run: (ctx) =>
        withProducer(async (producer) => {
          const current = currentProcessingVersion(app);
          const limit = ctx.params.limit === undefined ? undefined : Number.parseInt(ctx.params.limit, 10);
          const r = await reprocessStale(
            { catalog: app.catalog, producer, serde: app.serde, clock: app.clock, topicName: app.topics.topic },
            { current, dryRun: ctx.params.dryRun === 'true', signal: ctx.signal, ...(limit === undefined || Number.isNaN(limit) ? {} : { limit }) },
          );
          ctx.logger.info({ ...r, current }, 'reprocess pass');
          return { current, scanned: String(r.scanned), stale: String(r.stale), emitted: String(r.emitted) };
        }),
    },
    {
      name: d['dead-letter-replay'].name,
      description: d['dead-letter-replay'].description,
      ...ttl,
      retry: { attempts: 1 },
      run: (ctx) =>
        withProducer(async (producer) => {
          const r = await replayDeadLetters(
            { log: app.log, producer, serde: app.serde, topicName: app.topics.topic },
            { signal: ctx.signal, ...(ctx.params.code === undefined ? {} : { code: ctx.params.code }) },
          );
          ctx.logger.info({ ...r }, 'dead letters replayed');
          return { read: String(r.read), replayed: String(r.replayed), byTopic: JSON.stringify(r.byTopic) };
        }),
    },
  ];
  if (app.log instanceof DiskEventLog) {
    const log = app.log;
    const { name, description } = d['log-retention'];
    jobs.push({ name, description, cron: '30 * * * *', ...ttl, run: () => Promise.resolve({ deleted: String(log.compact()) }) });
  }
  return jobs;
}
