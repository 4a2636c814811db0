import { Kafka, Partitioners, logLevel, type Consumer, type Producer, type Admin, type LogEntry } from 'kafkajs';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { fastKeyPartitioner } from './partitioner.ts';
import { acksOf, committedOffsetsVia, createMissingTopics, endOffsetsVia, logRecordsOf, topicMessagesOf } from './kafkajs-shape.ts';
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

/** Options of the Kafka event log. */
export interface KafkaLogOptions {
  readonly brokers: readonly string[];
  readonly clientId?: string;
  readonly defaultPartitions?: number;
  readonly replicationFactor?: number;
  /** Partitions of one member processed at the same time (records within a partition stay ordered). */
  readonly partitionsConsumedConcurrently?: number;
  readonly sessionTimeoutMs?: number;
  /**
   * How often kafkajs retries a request by itself (default 8, ≈ 50 s of backoff) before the error
   * reaches the engine, which then retries on its own and pauses fetching meanwhile.
   */
  readonly clientRetries?: number;
  /**
   * Where `@confluentinc/kafka-javascript` is loaded from when the log runs on it (a folder or a
   * module id); resolved from captionflow itself when absent.
   */
  readonly confluentModule?: string;
  /** Receives kafkajs' own log lines (structured); silent when absent. */
  readonly onLog?: (entry: { level: 'error' | 'warn' | 'info' | 'debug'; message: string; extra: Record<string, unknown> }) => void;
}

const levels = { [logLevel.ERROR]: 'error', [logLevel.WARN]: 'warn', [logLevel.INFO]: 'info', [logLevel.DEBUG]: 'debug' } as const;

function brokerError(message: string, cause: unknown): PipelineError {
  const retriable = (cause as { retriable?: unknown }).retriable === true;
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return new PipelineError(ErrorCodes.BROKER_UNAVAILABLE, `${message}${why}`, { retriable, cause });
}

/**
 * The event log on Apache Kafka (kafkajs): consumer groups with manual commits after the sinks
 * acknowledged, an idempotent producer, keyed partitioning (murmur2, the Java client's), and
 * heartbeats during long batches.
 */
export class KafkaEventLog implements EventLog {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  private adminClient: Admin | undefined;
  private readonly producers = new Set<Producer>();
  private readonly consumers = new Set<KafkaConsumer>();
  private readonly known = new Set<string>();

  constructor(private readonly options: KafkaLogOptions) {
    const onLog = options.onLog;
    this.kafka = new Kafka({
      clientId: options.clientId ?? 'captionflow',
      brokers: [...options.brokers],
      logLevel: onLog === undefined ? logLevel.NOTHING : logLevel.WARN,
      logCreator: () => (entry: LogEntry) => {
        const { message, ...extra } = entry.log;
        // kafkajs warns this at every idempotent producer with bounded retries. Bounded on
        // purpose: the runner retries a failed send itself and can give up at shutdown, and a
        // re-send after exhausted retries can only duplicate into sinks that are idempotent.
        const expected = message.startsWith('Limiting retries for the idempotent producer');
        onLog?.({ level: expected ? 'debug' : (levels[entry.level as keyof typeof levels] ?? 'info'), message, extra });
      },
      retry: { initialRetryTime: 200, retries: options.clientRetries ?? 8 },
    });
  }

  private async admin(): Promise<Admin> {
    if (this.adminClient === undefined) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.adminClient = admin;
    }
    return this.adminClient;
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    const missing = topics.filter((t) => !this.known.has(t.name));
    if (missing.length === 0) return;
    await createMissingTopics(await this.admin(), missing, { ...this.options, waitForLeaders: true }, (err) => brokerError('could not create topics', err));
    for (const t of missing) this.known.add(t.name);
  }

  async producer(): Promise<LogProducer> {
    // Idempotent producer: broker-side de-duplication of retried sends, order kept per partition.
    // Keyed records are partitioned by murmur2 as the Java client (and kafkajs' default) does,
    // computed without kafkajs' Long arithmetic; keyless ones go round-robin as kafkajs does.
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      createPartitioner: () => fastKeyPartitioner(Partitioners.DefaultPartitioner()),
    });
    await producer.connect();
    this.producers.add(producer);
    return {
      send: async (records: readonly ProduceRecord[]): Promise<ProduceAck[]> => {
        try {
          return acksOf(records, await producer.sendBatch({ acks: -1, topicMessages: topicMessagesOf(records) }));
        } catch (err) {
          throw brokerError('produce failed', err);
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
    // The retry option below is created before the member it asks about.
    const holder: { member?: KafkaConsumer } = {};
    const consumer = this.kafka.consumer({
      groupId: options.group,
      sessionTimeout: this.options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
      allowAutoTopicCreation: true,
      maxWaitTimeInMs: 200,
      // kafkajs restarts a crashed consumer by itself; never once we are stopping, or a restart
      // racing the shutdown reconnects and keeps the process alive.
      retry: { restartOnFailure: () => Promise.resolve(holder.member?.isStopping() !== true) },
    });
    const member = new KafkaConsumer(consumer, options, this.options.partitionsConsumedConcurrently ?? 3, (topic) => this.committedOffsets(options.group, topic));
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

class KafkaConsumer implements LogConsumer {
  private stopping = false;
  /** Paused by the caller (kafkajs keeps its own paused set once running). */
  private paused = false;
  private started = false;
  private finished: Promise<void> | undefined;

  constructor(
    private readonly consumer: Consumer,
    private readonly options: ConsumerOptions,
    private readonly concurrency: number,
    private readonly offsetsOf: (topic: string) => Promise<Map<number, string>>,
  ) {}

  async run(eachBatch: (batch: ConsumedBatch, control: BatchControl) => Promise<void>): Promise<void> {
    const { consumer, options } = this;
    const maxBatch = options.maxBatchRecords ?? 100;
    this.finished = new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.STOP, () => resolve());
      consumer.on(consumer.events.CRASH, (e) => {
        const payload = e.payload as { error: Error; restart: boolean };
        if (!payload.restart) reject(brokerError('consumer crashed', payload.error));
      });
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning ?? true });
    const run = consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.concurrency,
      eachBatch: async (payload) => {
        const { batch } = payload;
        const isRunning = (): boolean => payload.isRunning();
        const isStale = (): boolean => payload.isStale();
        const records = logRecordsOf(batch.topic, batch.partition, batch.messages);
        // Hand the work over in bounded chunks so in-flight work stays bounded however large the fetch.
        for (let i = 0; i < records.length; i += maxBatch) {
          if (!isRunning() || isStale() || this.stopping) return;
          const chunk = records.slice(i, i + maxBatch);
          const control: BatchControl = {
            heartbeat: () => payload.heartbeat(),
            isRunning: () => isRunning() && !isStale() && !this.stopping,
            commit: async (nextOffset) => {
              if (isStale()) return;
              payload.resolveOffset(String(BigInt(nextOffset) - 1n));
              await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: nextOffset }]);
            },
          };
          await eachBatch({ topic: batch.topic, partition: batch.partition, records: chunk, highWatermark: batch.highWatermark }, control);
        }
      },
    });
    await run;
    // kafkajs can pause only a running consumer: a pause asked for earlier applies now.
    this.started = true;
    if (this.paused) consumer.pause(this.topicList());
    return this.finished;
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    if (this.started) this.consumer.pause(this.topicList());
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.started) this.consumer.resume(this.topicList());
  }

  /** The subscribed topics as kafkajs' pause/resume take them. */
  private topicList(): { topic: string }[] {
    return this.options.topics.map((topic) => ({ topic }));
  }

  /** True once `stop` was called. */
  isStopping(): boolean {
    return this.stopping;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.consumer.stop();
    await this.consumer.disconnect();
    await this.finished?.catch(() => undefined);
  }

  committed(topic: string): Promise<Map<number, string>> {
    return this.offsetsOf(topic);
  }
}

/** Connect to Kafka. */
export function createKafkaLog(options: KafkaLogOptions): KafkaEventLog {
  return new KafkaEventLog(options);
}
