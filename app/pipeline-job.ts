import { Topics } from '../schemas/topics.ts';
import type { App } from './app.ts';
import { waitForCatchUp, groupLag } from '../runtime/engine/lag.ts';
import { snapshotDataset } from '../runtime/lake/datasets.ts';
import { normalizeTopology } from '../topologies/normalize.ts';
import { curateTopology } from '../topologies/curate.ts';
import type { IngestDeps } from '../topologies/ingest.ts';
import type { LogProducer } from '../runtime/ports.ts';
import { importDataset } from '../services/import/importer.ts';
import { ensureSampleDataset } from './sample-data.ts';
import { progress } from './cli/progress.ts';
import { startTopologies } from './pipeline.ts';

/** Options of the main job. */
export interface PipelineJobOptions {
  /** Synthetic scenes generated and imported when the lake has no data of its own. */
  readonly sample: number;
  readonly seed: number;
  /** Name of the dataset version snapshotted at the end. */
  readonly datasetName: string;
}

/** What the main job reports. */
export interface PipelineJobSummary {
  readonly imported: number;
  /** Sample images the lake already had (a re-run): nothing new written. */
  readonly alreadyInLake: number;
  /** Sample images an earlier run imported (its resume state lists them). */
  readonly skippedEarlier: number;
  readonly importFailed: number;
  readonly statuses: Record<string, number>;
  readonly splits: Record<string, number>;
  readonly deadLetters: number;
  readonly dataset: { id: string; counts: Record<string, number>; created: boolean };
}

/** The ingest doors' dependencies on an app. */
export function ingestDeps(app: App, producer: LogProducer, maxBytes = 25 * 1024 * 1024): IngestDeps {
  return { objects: app.objects, bucket: app.lake.bucket, producer, serde: app.serde, clock: app.clock, maxBytes, topicName: app.topics.topic, keepCaptureLocation: app.config.ingest.keepCaptureLocation };
}

/**
 * The main job of the embedded quick start: generate a synthetic captioned dataset (once),
 * import it through the bulk-import door, run normalize and curate until the lake caught up,
 * and snapshot a dataset version for training — the path every image takes in production.
 */
export async function runPipelineJob(app: App, options: PipelineJobOptions): Promise<PipelineJobSummary> {
  const { logger } = app;
  const sample = await ensureSampleDataset(`${app.dataDir}/samples`, { count: options.sample, seed: options.seed, size: 128 }, logger);
  const running = await startTopologies(app);
  try {
    const producer = await app.log.producer();
    const deps = ingestDeps(app, producer);
    const bar = progress('import', sample.count, logger);
    const imported = await importDataset({
      format: 'coco',
      annotations: sample.annotations,
      imagesDir: sample.images,
      deps,
      stateFile: `${sample.dir}/import-state.jsonl`,
      onProgress: (p) => bar.update(p.done),
    });
    bar.stop();
    await producer.close();

    const stages = [
      { group: app.topics.topic(normalizeTopology.source.group), topic: app.topics.topic(Topics.imageIngested.name) },
      { group: app.topics.topic(curateTopology.source.group), topic: app.topics.topic(Topics.imageNormalized.name) },
    ];
    const total = sample.count;
    const procBar = progress('process', total, logger);
    await waitForCatchUp(app.log, stages, {
      onPoll: (lag) => procBar.update(Math.max(0, total - lag)),
    });
    procBar.stop();

    const snapshot = await snapshotDataset({ store: app.objects, catalog: app.catalog }, { name: options.datasetName });
    const counts = await app.catalog.images.countBySplit('curated');
    // Counted by the catalog, not by paging through every image record.
    const statuses: Record<string, number> = {};
    for (const status of ['normalized', 'curated', 'duplicate', 'rejected'] as const) {
      const c = await app.catalog.images.countBySplit(status);
      statuses[status] = c.train + c.val + c.test + c.none;
    }
    const deadLetters = Number([...(await app.log.endOffsets(app.topics.topic('dead-letter'))).values()].reduce((a, v) => a + BigInt(v), 0n));
    return {
      imported: imported.imported,
      alreadyInLake: imported.alreadyInLake,
      skippedEarlier: imported.skipped,
      importFailed: imported.failed.length,
      statuses,
      splits: { train: counts.train, val: counts.val, test: counts.test },
      deadLetters,
      dataset: { id: snapshot.record.id, counts: { ...snapshot.record.counts }, created: snapshot.created },
    };
  } finally {
    await Promise.all(running.map((r) => r.stop({ deadlineMs: app.config.shutdownDeadlineMs })));
    logger.debug({ lag: await groupLag(app.log, app.topics.topic(curateTopology.source.group), app.topics.topic(Topics.imageNormalized.name)) }, 'topologies stopped');
  }
}
