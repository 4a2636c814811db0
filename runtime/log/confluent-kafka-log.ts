import { createRequire } from 'node:module';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { KafkaLogOptions } from './kafka-log.ts';
import {
  acksOf,
  committedOffsetsVia,
  createMissingTopics,
  endOffsetsVia,
  logRecordsOf,
  topicMessagesOf,
  type KafkaJsShapedAdmin,
  type KafkaJsShapedConsumed,
  type KafkaJsShapedMessage,
  type KafkaJsShapedRecordMetadata,
} from './kafkajs-shape.ts';
import type {
  BatchControl,
  ConsumedBatch,
  ConsumerOptions,
  EventLog,
  LogConsumer,
  LogProducer,
  ProduceAck,
  ProduceRecord,
  TopicSpec,
} from '../ports.ts';

/**
 * The package this adapter runs on, and the version it is tested with. It is not a dependency of
 * captionflow: its install builds librdkafka from source (minutes), so a deployment that picks
 * `kafka.client: confluent` installs it next to captionflow, or points `kafka.confluentModule` at
 * an installed copy (deploy/services/confluent-kafka.ts installs one into the cache for the tests).
 */
export const CONFLUENT_KAFKA_PACKAGE = '@confluentinc/kafka-javascript';
export const CONFLUENT_KAFKA_TESTED_VERSION = '1.10.1';

// The part of the package's KafkaJS-compatible API this adapter uses, typed here because the
// package is loaded at run time and is not a compile-time dependency.
type Config = Record<string, unknown>;
interface CompatBatchPayload {
  batch: { topic: string; partition: number; highWatermark: string; messages: KafkaJsShapedConsumed[] };
  resolveOffset(offset: string): void;
}
interface CompatProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  sendBatch(batch: { topicMessages: { topic: string; messages: KafkaJsShapedMessage[] }[] }): Promise<KafkaJsShapedRecordMetadata[]>;
}
interface CompatConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(s: { topics: string[] }): Promise<void>;
  run(config: { eachBatchAutoResolve: boolean; partitionsConsumedConcurrently: number; eachBatch: (p: CompatBatchPayload) => Promise<void> }): Promise<void>;
  commitOffsets(offsets: { topic: string; partition: number; offset: string }[]): Promise<void>;
  pause(topics: { topic: string }[]): void;
  resume(topics: { topic: string }[]): void;
  assignment(): { topic: string; partition: number }[];
}
interface CompatAdmin extends KafkaJsShapedAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
}
interface CompatKafka {
  producer(config: Config): CompatProducer;
  consumer(config: Config): CompatConsumer;
  admin(config?: Config): CompatAdmin;
}
interface CompatModule {
  KafkaJS: {
    Kafka: new (config: Config) => CompatKafka;
    logLevel: { NOTHING: number; ERROR: number; WARN: number; INFO: number; DEBUG: number };
    ErrorCodes: Record<string, number>;
  };
}

/** Where the package is loaded from: `kafka.confluentModule` (a folder or a module id), else resolved from captionflow. */
function loadModule(from: string | undefined): CompatModule {
  const spec = from ?? CONFLUENT_KAFKA_PACKAGE;
  try {
    return createRequire(import.meta.url)(spec) as CompatModule;
  } catch (err) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `kafka.client is "confluent" but ${spec} could not be loaded (${(err as Error).message.split('\n')[0]}). ` +
        `Install it next to captionflow (npm install ${CONFLUENT_KAFKA_PACKAGE}@${CONFLUENT_KAFKA_TESTED_VERSION}; it builds librdkafka) ` +
        `or set CAPTIONFLOW_KAFKA_CONFLUENT_MODULE to an installed copy's folder.`,
      { retriable: false, cause: err },
    );
  }
}

/** librdkafka's error codes for what passes by itself: a broker away, a timeout, a leader moving. */
const TRANSIENT = new Set([
  'ERR__TRANSPORT',
  'ERR__ALL_BROKERS_DOWN',
  'ERR__TIMED_OUT',
  'ERR__MSG_TIMED_OUT',
  'ERR__WAIT_COORD',
  'ERR__RESOLVE',
  'ERR_REQUEST_TIMED_OUT',
  'ERR_NOT_LEADER_FOR_PARTITION',
  'ERR_LEADER_NOT_AVAILABLE',
  'ERR_UNKNOWN_TOPIC_OR_PART',
  'ERR_NOT_COORDINATOR',
  'ERR_COORDINATOR_NOT_AVAILABLE',
  'ERR_COORDINATOR_LOAD_IN_PROGRESS',
  'ERR_NOT_ENOUGH_REPLICAS',
  'ERR_REBALANCE_IN_PROGRESS',
  'ERR_NETWORK_EXCEPTION',
]);

/** The numbers of {@link TRANSIENT} in the loaded library's error codes. */
function transientCodes(codes: Record<string, number>): ReadonlySet<number> {
  return new Set([...TRANSIENT].map((name) => codes[name]).filter((x) => x !== undefined));
}

function brokerError(transient: ReadonlySet<number>, message: string, cause: unknown): PipelineError {
  const c = cause as { code?: unknown; retriable?: unknown; fatal?: unknown };
  const retriable = c.fatal !== true && (c.retriable === true || (typeof c.code === 'number' && transient.has(c.code)));
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return new PipelineError(ErrorCodes.BROKER_UNAVAILABLE, `${message}${why}`, { retriable, cause });
}

/** How long kafkajs' `retries` take with the adapters' backoff (200 ms doubling, at most 30 s a step). */
export function retryBudgetMs(retries: number): number {
  let total = 0;
  for (let i = 0; i <= retries; i++) total += Math.min(30_000, 200 * 2 ** i);
  return total;
}

/**
 * The event log on Apache Kafka through librdkafka (`@confluentinc/kafka-javascript`, its
 * KafkaJS-compatible API), the same contract as the kafkajs adapter: consumer groups with manual
 * commits after the sinks acknowledged, an idempotent producer with acks from all replicas, keyed
 * partitioning by murmur2 as the Java client does (librdkafka's `murmur2_random`, which is what
 * the compatible API's default partitioner is).
 *
 * Two things differ from kafkajs and are handled here, per consumer:
 * - librdkafka reports rebalances through `rebalance_cb`; the consumer keeps its own set of owned
 *   partitions from it, and a batch whose partition was revoked (or revoked and assigned again)
 *   stops and commits nothing, as a stale kafkajs batch does.
 * - Pausing the compatible consumer rewinds the paused partitions to the last offset it was told
 *   was handled, and marks the batch in flight stale. The engine pauses for outages and keeps
 *   working on that batch, so staleness from our own pause is not a revocation: the batch still
 *   commits, and the records that come again after the resume are dropped below the partition's
 *   next offset, as the @platformatic/kafka adapter's lanes do.
 */
export class ConfluentKafkaEventLog implements EventLog {
  readonly kind = 'kafka' as const;
  private loaded: { module: CompatModule; kafka: CompatKafka; transient: ReadonlySet<number> } | undefined;
  private adminClient: CompatAdmin | undefined;
  private readonly producers = new Set<CompatProducer>();
  private readonly consumers = new Set<ConfluentConsumer>();
  private readonly known = new Set<string>();

  constructor(private readonly options: KafkaLogOptions) {}

  /** The library and one client configuration, loaded on first use (a config error names the fix). */
  private client(): { module: CompatModule; kafka: CompatKafka; transient: ReadonlySet<number> } {
    if (this.loaded !== undefined) return this.loaded;
    const module = loadModule(this.options.confluentModule);
    const { logLevel } = module.KafkaJS;
    const onLog = this.options.onLog;
    const say = (level: 'error' | 'warn' | 'info' | 'debug') => (message: string, extra?: Record<string, unknown>) =>
      onLog?.({ level, message, extra: extra ?? {} });
    const logger = { error: say('error'), warn: say('warn'), info: say('info'), debug: say('debug'), namespace() { return this; }, setLogLevel() {} };
    const kafka = new module.KafkaJS.Kafka({
      kafkaJS: {
        clientId: this.options.clientId ?? 'captionflow',
        brokers: [...this.options.brokers],
        logLevel: onLog === undefined ? logLevel.NOTHING : logLevel.WARN,
        logger,
      },
    });
    this.loaded = { module, kafka, transient: transientCodes(module.KafkaJS.ErrorCodes) };
    return this.loaded;
  }

  private error(message: string, cause: unknown): PipelineError {
    return brokerError(this.client().transient, message, cause);
  }

  private async admin(): Promise<CompatAdmin> {
    if (this.adminClient === undefined) {
      const admin = this.client().kafka.admin();
      await admin.connect();
      this.adminClient = admin;
    }
    return this.adminClient;
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    const missing = topics.filter((t) => !this.known.has(t.name));
    if (missing.length === 0) return;
    // The compatible API has no leader wait: a send to a topic still electing is retried by librdkafka.
    await createMissingTopics(await this.admin(), missing, this.options, (err) => this.error('could not create topics', err));
    for (const t of missing) this.known.add(t.name);
  }

  async producer(): Promise<LogProducer> {
    const producer = this.client().kafka.producer({
      // Sends are awaited one batch at a time: no linger, librdkafka batches what a send holds.
      'linger.ms': 0,
      // librdkafka retries a send until it times out: give it what the kafkajs adapter's bounded
      // client retries take, then the engine's own retries (and its sink-unavailable pause) carry on.
      'message.timeout.ms': retryBudgetMs(this.options.clientRetries ?? 8),
      kafkaJS: { idempotent: true, acks: -1, allowAutoTopicCreation: true },
    });
    await producer.connect();
    this.producers.add(producer);
    return {
      send: async (records: readonly ProduceRecord[]): Promise<ProduceAck[]> => {
        try {
          // acks and idempotence are producer settings in this API, not per send.
          return acksOf(records, await producer.sendBatch({ topicMessages: topicMessagesOf(records) }));
        } catch (err) {
          throw this.error('produce failed', err);
        }
      },
      close: async () => {
        this.producers.delete(producer);
        await producer.disconnect();
      },
    };
  }

  async consumer(options: ConsumerOptions): Promise<LogConsumer> {
    await this.ensureTopics(options.topics.map((name) => ({ name })));
    const { module, kafka } = this.client();
    const codes = module.KafkaJS.ErrorCodes;
    const holder: { member?: ConfluentConsumer } = {};
    const consumer = kafka.consumer({
      // Batches of up to maxBatchRecords (the compatible API hands out 32 by default).
      'js.consumer.max.batch.size': options.maxBatchRecords ?? 100,
      rebalance_cb: (err: { code: number }, assignment: { topic: string; partition: number }[]) =>
        holder.member?.onRebalance(err.code === codes.ERR__ASSIGN_PARTITIONS, assignment),
      kafkaJS: {
        groupId: options.group,
        fromBeginning: options.fromBeginning ?? true,
        autoCommit: false,
        sessionTimeout: this.options.sessionTimeoutMs ?? 30_000,
        heartbeatInterval: 3_000,
        maxWaitTimeInMs: 200,
        allowAutoTopicCreation: true,
      },
    });
    const member = new ConfluentConsumer(
      consumer,
      options,
      this.options.partitionsConsumedConcurrently ?? 3,
      (topic) => this.committedOffsets(options.group, topic),
      (message, err) => this.error(message, err),
      () => this.consumers.delete(member),
    );
    holder.member = member;
    this.consumers.add(member);
    return member;
  }

  async endOffsets(topic: string): Promise<Map<number, string>> {
    return endOffsetsVia(await this.admin(), topic);
  }

  async committedOffsets(group: string, topic: string): Promise<Map<number, string>> {
    return committedOffsetsVia(await this.admin(), group, topic);
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await Promise.all([...this.producers].map((p) => p.disconnect()));
    this.producers.clear();
    await this.adminClient?.disconnect();
    this.adminClient = undefined;
  }
}

class ConfluentConsumer implements LogConsumer {
  private stopping = false;
  private paused = false;
  private connected = false;
  /** Owned partitions (`topic:partition`) with the rebalance that assigned them. */
  private readonly owned = new Map<string, number>();
  private generation = 0;
  /** Per owned partition, the next offset not yet handed out: records below it came again after a pause. */
  private readonly next = new Map<string, bigint>();
  private readonly inflight = new Set<Promise<void>>();
  private finished: Promise<void> | undefined;
  private resolveFinished: (() => void) | undefined;

  constructor(
    private readonly consumer: CompatConsumer,
    private readonly options: ConsumerOptions,
    private readonly concurrency: number,
    private readonly offsetsOf: (topic: string) => Promise<Map<number, string>>,
    private readonly error: (message: string, cause: unknown) => PipelineError,
    private readonly onStopped: () => void,
  ) {}

  /** librdkafka's rebalance callback: partitions assigned or revoked (it applies them after this returns). */
  onRebalance(assign: boolean, partitions: { topic: string; partition: number }[]): void {
    this.generation++;
    for (const p of partitions) {
      const id = `${p.topic}:${p.partition}`;
      if (assign) this.owned.set(id, this.generation);
      else this.owned.delete(id);
      // Either way the partition starts again at its committed offset.
      this.next.delete(id);
    }
  }

  async run(eachBatch: (batch: ConsumedBatch, control: BatchControl) => Promise<void>): Promise<void> {
    const { consumer, options } = this;
    this.finished = new Promise<void>((resolve) => (this.resolveFinished = resolve));
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [...options.topics] });
      this.connected = true;
      await consumer.run({
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: this.concurrency,
        eachBatch: (payload) => this.track(this.handle(payload, eachBatch)),
      });
    } catch (err) {
      throw this.error('could not join the consumer group', err);
    }
    return this.finished;
  }

  private track(work: Promise<void>): Promise<void> {
    this.inflight.add(work);
    return work.finally(() => this.inflight.delete(work));
  }

  private async handle(payload: CompatBatchPayload, eachBatch: (batch: ConsumedBatch, control: BatchControl) => Promise<void>): Promise<void> {
    const { batch } = payload;
    const id = `${batch.topic}:${batch.partition}`;
    const generation = this.owned.get(id);
    if (this.stopping || generation === undefined) return;
    if (this.paused) {
      // Assigned while paused: pause it too; its records come again on resume (nothing resolved).
      this.consumer.pause(this.topicList());
      return;
    }
    const from = this.next.get(id);
    const fresh = from === undefined ? batch.messages : batch.messages.filter((m) => BigInt(m.offset) >= from);
    if (fresh.length === 0) {
      // Handled before a pause rewound the partition: resolve them again so it does not seek back.
      payload.resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
      return;
    }
    // The offset after the batch's last record: handed out up to here, and what a full commit reaches.
    const last = BigInt(fresh[fresh.length - 1]!.offset) + 1n;
    this.next.set(id, last);
    const records = logRecordsOf(batch.topic, batch.partition, fresh);
    let committed = false;
    const isRunning = (): boolean => !this.stopping && this.owned.get(id) === generation;
    const control: BatchControl = {
      // librdkafka heartbeats on its own thread.
      heartbeat: () => Promise.resolve(),
      isRunning,
      commit: async (nextOffset) => {
        if (!isRunning()) return;
        payload.resolveOffset(String(BigInt(nextOffset) - 1n));
        try {
          await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: nextOffset }]);
        } catch (err) {
          // A rebalance raced the commit: the records come again to whoever owns the partition now.
          if (!isRunning()) return;
          throw this.error('commit failed', err);
        }
        committed = BigInt(nextOffset) >= last;
      },
    };
    try {
      await eachBatch({ topic: batch.topic, partition: batch.partition, records, highWatermark: batch.highWatermark }, control);
    } finally {
      // A batch that ended without committing all of it (it failed, or stopped early) is fetched
      // again from where it began: take its records again then.
      if (!committed && this.owned.get(id) === generation) {
        if (from === undefined) this.next.delete(id);
        else {
          this.next.set(id, from);
          payload.resolveOffset(String(from - 1n));
        }
      }
    }
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    if (this.connected && this.consumer.assignment().length > 0) this.consumer.pause(this.topicList());
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.connected && this.consumer.assignment().length > 0) this.consumer.resume(this.topicList());
  }

  private topicList(): { topic: string }[] {
    return this.options.topics.map((topic) => ({ topic }));
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // The compatible API has no stop: let the batches in flight end, then leave the group.
    await Promise.allSettled([...this.inflight]);
    await this.consumer.disconnect().catch(() => undefined);
    this.onStopped();
    this.resolveFinished?.();
  }

  committed(topic: string): Promise<Map<number, string>> {
    return this.offsetsOf(topic);
  }
}

/** Connect to Kafka through librdkafka. */
export function createConfluentKafkaLog(options: KafkaLogOptions): ConfluentKafkaEventLog {
  return new ConfluentKafkaEventLog(options);
}
