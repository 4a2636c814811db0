import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../runtime/config.ts';
import { createLogger, type Logger } from '../runtime/logger.ts';
import { Metrics } from '../runtime/metrics.ts';
import { systemClock } from '../runtime/clock.ts';
import { createDiskLog } from '../runtime/log/disk-log.ts';
import { createKafkaLogWith } from '../runtime/log/kafka-client.ts';
import { openLake } from '../runtime/lake/lake.ts';
import type { ObjectStore } from '../runtime/lake/object-store.ts';
import type { Catalog } from '../runtime/catalog/catalog.ts';
import { AvroSerde } from '../runtime/serde/avro-serde.ts';
import { EmbeddedSchemaRegistry } from '../runtime/serde/embedded-schema-registry.ts';
import { ConfluentSchemaRegistry } from '../runtime/serde/confluent-schema-registry.ts';
import type { SchemaRegistry } from '../runtime/serde/schema-registry.ts';
import { avroSerdePort } from '../runtime/engine/avro-serde-port.ts';
import { topicNamespace, type TopicNamespace } from '../runtime/engine/namespace.ts';
import { PiscinaPool } from '../runtime/workers/piscina-pool.ts';
import type { Clock, EventLog, Serde, WorkerPool } from '../runtime/ports.ts';
import { allTopics } from '../schemas/topics.ts';
import { resolveNormalizeOptions } from '../processors/image/normalize-options.ts';
import { createCaptionNormalizer } from '../processors/text/normalize-caption.ts';
import { QualityGateOptionsSchema } from '../processors/curate/quality-gate.ts';
import { NearDuplicates } from '../topologies/near-duplicates.ts';
import type { LakeDeps } from '../topologies/lake-services.ts';
import type { LabelDeps } from '../topologies/label.ts';
import { teacherResolver } from '../topologies/teacher.ts';
import { domainJudge } from './models/domain-gate.ts';

/** Everything a captionflow process runs on, chosen by `config.mode`. */
export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly log: EventLog;
  readonly registry: SchemaRegistry;
  readonly serde: Serde;
  readonly objects: ObjectStore;
  readonly catalog: Catalog;
  readonly pool: WorkerPool;
  readonly lake: LakeDeps;
  /** The lake dependencies plus the teacher captioner of the labeling path. */
  readonly label: LabelDeps;
  /** Physical topic names (`config.topicPrefix`). */
  readonly topics: TopicNamespace;
  /** Where the data of the embedded mode lives (absolute). */
  readonly dataDir: string;
  close(): Promise<void>;
}

/**
 * Open the adapters of a deployment. Embedded: disk log, local schema store, filesystem lake,
 * SQLite catalog — all under `dataDir`, no servers. Distributed: Kafka, a Confluent-compatible
 * registry, S3 and MongoDB. Topologies and services receive the same ports either way.
 */
export async function openApp(config: Config, options: { logger?: Logger; metrics?: Metrics } = {}): Promise<App> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const metrics = options.metrics ?? new Metrics({ defaultMetrics: true });
  const dataDir = resolve(config.dataDir);
  const closers: (() => Promise<void>)[] = [];
  try {
    let log: EventLog;
    let registry: SchemaRegistry;
    if (config.mode === 'embedded') {
      mkdirSync(dataDir, { recursive: true });
      log = createDiskLog({
        dir: join(dataDir, 'log'),
        fsync: config.log.fsync,
        defaultPartitions: config.log.partitions,
        ...(config.log.retentionHours === undefined ? {} : { retentionMs: config.log.retentionHours * 3_600_000 }),
      });
      registry = new EmbeddedSchemaRegistry({ path: join(dataDir, 'schemas.sqlite') });
    } else {
      log = createKafkaLogWith(config.kafka.client, {
        brokers: config.kafka.brokers,
        clientId: config.kafka.clientId,
        defaultPartitions: config.log.partitions,
        replicationFactor: config.kafka.replicationFactor,
        ...(config.kafka.confluentModule === undefined ? {} : { confluentModule: config.kafka.confluentModule }),
        onLog: (e) => logger[e.level]({ component: config.kafka.client, ...e.extra }, e.message),
      });
      registry = new ConfluentSchemaRegistry({ url: config.schemaRegistry.url, compatibility: 'BACKWARD' });
    }
    closers.push(() => log.close());
    closers.push(async () => registry.close?.());
    const topics = topicNamespace(config.topicPrefix);
    await log.ensureTopics(allTopics.map((t) => ({ name: topics.topic(t.name) })));

    const lake = await openLake(
      config.mode === 'embedded'
        ? { mode: 'embedded', dataDir }
        : {
            mode: 'distributed',
            s3: { endpoint: config.s3.endpoint, accessKey: config.s3.accessKey, secretKey: config.s3.secretKey, region: config.s3.region, bucket: config.s3.bucket },
            mongo: { url: config.mongo.url, dbName: config.mongo.database },
          },
    );
    closers.push(() => lake.close());
    const pool = new PiscinaPool({ size: config.workers.size });
    closers.push(() => pool.close());

    const curate = {
      quality: QualityGateOptionsSchema.parse({}),
      split: { train: 0.8, val: 0.1 },
      nearDuplicateDistance: config.processing.nearDuplicateDistance,
      maxColourDistance: config.processing.maxColourDistance,
    };
    const lakeDeps: LakeDeps = {
      objects: lake.store,
      catalog: lake.catalog,
      bucket: config.mode === 'embedded' ? 'lake' : config.s3.bucket,
      normalize: resolveNormalizeOptions({ modelInput: { size: config.processing.imageSize } }),
      augment: { count: config.processing.augmentVariants, seed: config.processing.augmentSeed },
      captions: createCaptionNormalizer({}),
      curate,
      dedup: new NearDuplicates(lake.catalog, lake.store, { radius: curate.nearDuplicateDistance, maxColourDistance: curate.maxColourDistance }),
      ...(config.processing.rejectOutOfDomain
        ? { domainGate: domainJudge(pool, teacherResolver(lake.catalog, lake.store, { modelName: config.models.name, alias: 'champion' })) }
        : {}),
    };
    logger.info({ mode: config.mode, dataDir, workers: pool.size, log: log.kind, objects: lake.store.kind, catalog: lake.catalog.kind }, 'captionflow opened');
    return {
      config,
      logger,
      metrics,
      clock: systemClock,
      log,
      registry,
      serde: avroSerdePort(new AvroSerde(registry), topics.logical),
      topics,
      objects: lake.store,
      catalog: lake.catalog,
      pool,
      lake: lakeDeps,
      label: {
        ...lakeDeps,
        teacher: teacherResolver(lake.catalog, lake.store, {
          modelName: config.models.name,
          alias: config.models.teacherAlias,
          ...(config.models.teacherVersion === undefined ? {} : { version: config.models.teacherVersion }),
        }),
      },
      dataDir,
      close: async () => {
        for (const close of closers.reverse()) await close().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'close failed'));
      },
    };
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw err;
  }
}
