import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ErrorCodes, PipelineError } from '../schemas/errors.ts';

const port = z.coerce.number().int().min(1).max(65_535);
const positiveInt = z.coerce.number().int().min(1);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);
const list = z.union([z.array(z.string()), z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))]);

/** The one typed configuration tree of a captionflow process. */
export const ConfigSchema = z.object({
  mode: z.enum(['embedded', 'distributed']).default('embedded'),
  dataDir: z.string().min(1).default('.data'),
  /** Prefix of every topic and consumer group (`<prefix>.image.ingested`), for deployments sharing a cluster. */
  topicPrefix: z.string().regex(/^([A-Za-z0-9._-]{1,100})?$/, 'letters, digits, . _ - (or empty)').default(''),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  workers: z.object({ size: positiveInt.default(availableParallelism()) }).prefault({}),
  log: z
    .object({
      fsync: z.enum(['always', 'batch']).default('batch'),
      partitions: positiveInt.default(3),
      retentionHours: z.coerce.number().positive().optional(),
    })
    .prefault({}),
  kafka: z
    .object({
      brokers: list.default(['127.0.0.1:9092']),
      clientId: z.string().default('captionflow'),
      /** The client library behind the event log (runtime/log/kafka-client.ts); kafkajs until another measures 1.5× and passes every Kafka test. */
      client: z.enum(['kafkajs', 'platformatic', 'confluent']).default('kafkajs'),
      /** Where `@confluentinc/kafka-javascript` is installed, for client `confluent` (it is not a dependency: its install builds librdkafka). */
      confluentModule: z.string().min(1).optional(),
      replicationFactor: positiveInt.default(1),
    })
    .prefault({}),
  schemaRegistry: z.object({ url: z.url().default('http://127.0.0.1:8081') }).prefault({}),
  s3: z
    .object({
      endpoint: z.url().default('http://127.0.0.1:9000'),
      accessKey: z.string().default(''),
      secretKey: z.string().default(''),
      region: z.string().default('us-east-1'),
      bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name').default('captionflow'),
    })
    .prefault({}),
  mongo: z.object({ url: z.string().regex(/^mongodb(\+srv)?:\/\//, 'a mongodb:// URL').default('mongodb://127.0.0.1:27017'), database: z.string().default('captionflow') }).prefault({}),
  http: z
    .object({
      host: z.string().default('127.0.0.1'),
      port: port.default(8080),
      apiKeys: list.default([]),
      /**
       * Per-API-key token bucket on mutating and caption routes: requests at once, and per second
       * sustained. Off by default (benchmarks and nginx-fronted replicas set their own limits).
       */
      rateLimit: z
        .object({
          enabled: bool.default(false),
          burst: positiveInt.default(60),
          perSecond: z.coerce.number().positive().default(20),
        })
        .prefault({}),
    })
    .prefault({}),
  metrics: z.object({ enabled: bool.default(true), port: port.default(9464) }).prefault({}),
  processing: z
    .object({
      /** Side of the square image the model sees (silver/gold model inputs). */
      imageSize: z.coerce.number().int().min(16).max(1024).default(96),
      /** pHash Hamming distance at or below which an image is a near duplicate. */
      nearDuplicateDistance: z.coerce.number().int().min(0).max(32).default(6),
      /** Colour-signature distance (0..1) at or below which a pHash candidate is confirmed as a duplicate. */
      maxColourDistance: z.coerce.number().min(0).max(1).default(0.06),
      /** Seeded augmentation variants written to silver per image (0: off). */
      augmentVariants: z.coerce.number().int().min(0).max(32).default(0),
      augmentSeed: z.coerce.number().int().default(1),
      /** Curation rejects images the champion's domain gate finds out of domain (reason OUT_OF_DOMAIN). */
      rejectOutOfDomain: bool.default(false),
    })
    .prefault({}),
  models: z
    .object({
      /** The model served and retrained. */
      name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a lowercase model name').default('captioner'),
      /** The teacher of the labeling path: an alias of `name`… */
      teacherAlias: z.string().default('champion'),
      /** …or a pinned version (an imported ONNX captioner, say). */
      teacherVersion: z.string().optional(),
      /** Train also on the augmentation variants a dataset version lists (see processing.augmentVariants). */
      trainOnAugmentations: z
        .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean({ error: 'true or false' }))
        .default(true),
    })
    .prefault({}),
  jobs: z
    .object({
      retrainCheckMs: positiveInt.default(600_000),
      retrainMinNewItems: positiveInt.default(200),
      retrainConfig: z.enum(['tiny', 'default']).default('default'),
      promotionMargin: z.coerce.number().min(0).default(0.01),
      consistencyEveryMs: positiveInt.default(6 * 3_600_000),
      /** Cron (UTC) of a scheduled retrain besides the new-data trigger; unset: none. */
      retrainCron: z.string().min(1).optional(),
      /** Cron (UTC) of the dataset snapshot. */
      snapshotCron: z.string().min(1).default('0 * * * *'),
      /** Time-to-live of a job's lease in the catalog; heartbeats renew it every third. */
      leaseTtlMs: positiveInt.default(60_000),
    })
    .prefault({}),
  /** Caption serving (`captionflow serve`, and the same routes in `run`). */
  serving: z
    .object({
      /** The alias a request gets when it names no model. */
      alias: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'an alias name').default('champion'),
      /** Canary: this share (0..1) of the requests that name no model go to `canaryAlias`; 0 turns it off. */
      canaryShare: z.coerce.number().min(0).max(1).default(0),
      canaryAlias: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'an alias name').default('challenger'),
      /**
       * Most images in one batch sent to a worker (1 turns batching off). 16: on the KV-cache
       * decoder a batch of 16 costs 18 CPU ms per image against 25 at 8 and 59 alone (README,
       * Caption serving); about the expected concurrency over the workers.
       */
      maxBatchSize: positiveInt.max(256).default(16),
      /** Longest wait of the oldest queued image for its batch to fill, in ms. */
      maxQueueDelayMs: z.coerce.number().int().min(0).max(10_000).default(5),
      /**
       * How long a partial batch that is still filling (images arriving, or answers out whose
       * clients are expected back) may hold a free worker, as a share of the recent batch run
       * time; 0: Triton's rule, a batch leaves `maxQueueDelayMs` after its oldest image
       * (services/serving/micro-batcher.ts, DEFAULT_FILL_WAIT).
       */
      fillWait: z.coerce.number().min(0).max(10).default(0.25),
      /** Full batches sent to the worker pool beyond one per worker, so a worker never idles between batches under load (0: none). */
      stagedBatches: z.coerce.number().int().min(0).max(64).default(1),
      /** Most images waiting; beyond it requests get 503 with Retry-After. */
      queueLimit: positiveInt.default(256),
      /** onnxruntime intra-op threads per session in each worker (see the README: workers x threads <= cores). */
      intraOpThreads: positiveInt.max(64).default(1),
      /** Deadline of a request that sets none, and the longest one a request may set, in ms. */
      requestTimeoutMs: positiveInt.default(30_000),
      maxRequestTimeoutMs: positiveInt.default(120_000),
      /** How long a worker keeps a superseded model version after its last use, in ms. */
      graceMs: z.coerce.number().int().min(0).default(30_000),
      maxImages: positiveInt.max(256).default(16),
      maxImageBytes: positiveInt.default(10 * 1024 * 1024),
      maxPixels: positiveInt.default(40_000_000),
    })
    .prefault({}),
  shutdownDeadlineMs: positiveInt.default(30_000),
  ingest: z
    .object({
      /** Keep a mobile capture's location in the image attributes (catalog, gold). Off: only capture.received has it. */
      keepCaptureLocation: bool.default(false),
    })
    .prefault({}),
});

/** The validated configuration. */
export type Config = z.infer<typeof ConfigSchema>;

/** Environment variables and the config keys they set (also the README's configuration table). */
export const ENV_KEYS: Readonly<Record<string, string>> = {
  CAPTIONFLOW_MODE: 'mode',
  CAPTIONFLOW_DATA_DIR: 'dataDir',
  CAPTIONFLOW_TOPIC_PREFIX: 'topicPrefix',
  CAPTIONFLOW_LOG_LEVEL: 'logLevel',
  CAPTIONFLOW_WORKERS: 'workers.size',
  CAPTIONFLOW_LOG_FSYNC: 'log.fsync',
  CAPTIONFLOW_LOG_PARTITIONS: 'log.partitions',
  CAPTIONFLOW_LOG_RETENTION_HOURS: 'log.retentionHours',
  CAPTIONFLOW_KAFKA_BROKERS: 'kafka.brokers',
  CAPTIONFLOW_KAFKA_CLIENT_ID: 'kafka.clientId',
  CAPTIONFLOW_KAFKA_CLIENT: 'kafka.client',
  CAPTIONFLOW_KAFKA_CONFLUENT_MODULE: 'kafka.confluentModule',
  CAPTIONFLOW_SCHEMA_REGISTRY_URL: 'schemaRegistry.url',
  CAPTIONFLOW_S3_ENDPOINT: 's3.endpoint',
  CAPTIONFLOW_S3_ACCESS_KEY: 's3.accessKey',
  CAPTIONFLOW_S3_SECRET_KEY: 's3.secretKey',
  CAPTIONFLOW_S3_REGION: 's3.region',
  CAPTIONFLOW_S3_BUCKET: 's3.bucket',
  CAPTIONFLOW_MONGO_URL: 'mongo.url',
  CAPTIONFLOW_MONGO_DATABASE: 'mongo.database',
  CAPTIONFLOW_HTTP_HOST: 'http.host',
  CAPTIONFLOW_HTTP_PORT: 'http.port',
  CAPTIONFLOW_API_KEYS: 'http.apiKeys',
  CAPTIONFLOW_CANARY_SHARE: 'serving.canaryShare',
  CAPTIONFLOW_CANARY_ALIAS: 'serving.canaryAlias',
  CAPTIONFLOW_RATE_LIMIT_ENABLED: 'http.rateLimit.enabled',
  CAPTIONFLOW_RATE_LIMIT_BURST: 'http.rateLimit.burst',
  CAPTIONFLOW_RATE_LIMIT_PER_SECOND: 'http.rateLimit.perSecond',
  CAPTIONFLOW_METRICS_ENABLED: 'metrics.enabled',
  CAPTIONFLOW_METRICS_PORT: 'metrics.port',
  CAPTIONFLOW_IMAGE_SIZE: 'processing.imageSize',
  CAPTIONFLOW_NEAR_DUPLICATE_DISTANCE: 'processing.nearDuplicateDistance',
  CAPTIONFLOW_MAX_COLOUR_DISTANCE: 'processing.maxColourDistance',
  CAPTIONFLOW_AUGMENT_VARIANTS: 'processing.augmentVariants',
  CAPTIONFLOW_AUGMENT_SEED: 'processing.augmentSeed',
  CAPTIONFLOW_REJECT_OUT_OF_DOMAIN: 'processing.rejectOutOfDomain',
  CAPTIONFLOW_MODEL_NAME: 'models.name',
  CAPTIONFLOW_TEACHER_ALIAS: 'models.teacherAlias',
  CAPTIONFLOW_TEACHER_VERSION: 'models.teacherVersion',
  CAPTIONFLOW_TRAIN_ON_AUGMENTATIONS: 'models.trainOnAugmentations',
  CAPTIONFLOW_RETRAIN_CHECK_MS: 'jobs.retrainCheckMs',
  CAPTIONFLOW_RETRAIN_MIN_NEW_ITEMS: 'jobs.retrainMinNewItems',
  CAPTIONFLOW_RETRAIN_CONFIG: 'jobs.retrainConfig',
  CAPTIONFLOW_PROMOTION_MARGIN: 'jobs.promotionMargin',
  CAPTIONFLOW_CONSISTENCY_EVERY_MS: 'jobs.consistencyEveryMs',
  CAPTIONFLOW_RETRAIN_CRON: 'jobs.retrainCron',
  CAPTIONFLOW_SNAPSHOT_CRON: 'jobs.snapshotCron',
  CAPTIONFLOW_JOB_LEASE_TTL_MS: 'jobs.leaseTtlMs',
  CAPTIONFLOW_SHUTDOWN_DEADLINE_MS: 'shutdownDeadlineMs',
  CAPTIONFLOW_KEEP_CAPTURE_LOCATION: 'ingest.keepCaptureLocation',
  CAPTIONFLOW_SERVING_ALIAS: 'serving.alias',
  CAPTIONFLOW_SERVING_MAX_BATCH_SIZE: 'serving.maxBatchSize',
  CAPTIONFLOW_SERVING_MAX_QUEUE_DELAY_MS: 'serving.maxQueueDelayMs',
  CAPTIONFLOW_SERVING_FILL_WAIT: 'serving.fillWait',
  CAPTIONFLOW_SERVING_QUEUE_LIMIT: 'serving.queueLimit',
  CAPTIONFLOW_SERVING_STAGED_BATCHES: 'serving.stagedBatches',
  CAPTIONFLOW_SERVING_INTRA_OP_THREADS: 'serving.intraOpThreads',
  CAPTIONFLOW_SERVING_REQUEST_TIMEOUT_MS: 'serving.requestTimeoutMs',
  CAPTIONFLOW_SERVING_MAX_REQUEST_TIMEOUT_MS: 'serving.maxRequestTimeoutMs',
  CAPTIONFLOW_SERVING_GRACE_MS: 'serving.graceMs',
  CAPTIONFLOW_SERVING_MAX_IMAGES: 'serving.maxImages',
  CAPTIONFLOW_SERVING_MAX_IMAGE_BYTES: 'serving.maxImageBytes',
  CAPTIONFLOW_SERVING_MAX_PIXELS: 'serving.maxPixels',
};

/** Keys whose values are secrets: never echoed in errors or logs. */
const SECRET_KEYS = new Set(['s3.secretKey', 's3.accessKey', 'http.apiKeys']);

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function getPath(source: unknown, path: readonly PropertyKey[]): unknown {
  let node = source;
  for (const part of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

/**
 * Load the configuration: defaults, then the JSON file named by `CAPTIONFLOW_CONFIG` (or
 * `options.file`), then environment variables, then `overrides`. A bad value fails at start
 * with a message naming the key, the value (secrets masked) and what was expected.
 */
export function loadConfig(
  options: { env?: NodeJS.ProcessEnv; file?: string; overrides?: Record<string, unknown> } = {},
): Config {
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = {};
  const file = options.file ?? env.CAPTIONFLOW_CONFIG;
  if (file !== undefined && file !== '') {
    try {
      Object.assign(raw, JSON.parse(readFileSync(resolve(file), 'utf8')) as Record<string, unknown>);
    } catch (err) {
      throw new PipelineError(ErrorCodes.CONFIG_INVALID, `config file ${file} could not be read as JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  const origin = new Map<string, string>();
  for (const [name, path] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value !== undefined && value !== '') {
      setPath(raw, path, value);
      origin.set(path, name);
    }
  }
  for (const [path, value] of Object.entries(options.overrides ?? {})) setPath(raw, path, value);
  const parsed = ConfigSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const key = issue.path.join('.');
    const value = getPath(raw, issue.path);
    const shown = SECRET_KEYS.has(key) ? '[redacted]' : JSON.stringify(value);
    const from = origin.has(key) ? ` (from ${origin.get(key)})` : '';
    return `${key}${from}: got ${shown}, expected ${issue.message}`;
  });
  throw new PipelineError(ErrorCodes.CONFIG_INVALID, `invalid configuration: ${problems.join('; ')}`, { context: { problems } });
}
