import { Kafka, Partitioners, logLevel, type Consumer, type Producer, type Admin, type LogEntry } from 'kafkajs';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { fastKeyPartitioner } from './partitioner.ts';
import { acksFromBaseOffsets } from './produce-acks.ts';
import type {
  BatchControl,
  ConsumedBatch,
  ConsumerOptions,
  EventLog,
  Headers,
  LogConsumer,
  LogProducer,
  LogRecord,
  ProduceAck,
  ProduceRecord,
  TopicSpec,
} from '../ports.ts';
import { withRetry } from '../lake/retry.ts';

/** Attempts at making missing topics before giving up (a retriable broker answer is retried with backoff from 250 ms). */
const ENSURE_TOPICS_ATTEMPTS = 5;

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

const NO_HEADERS: Headers = Object.freeze({});

function toHeaders(raw: Record<string, unknown> | undefined): Headers {
  if (raw === undefined) return NO_HEADERS;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined || v === null) continue;
    const first: unknown = Array.isArray(v) ? v[0] : v;
    out[k] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}

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
    const admin = await this.admin();
    // A broker busy electing leaders for topics just made answers UNKNOWN_TOPIC_OR_PARTITION
    // (retriable) to the leader wait; the next attempt lists the topics again and waits anew.
    await withRetry(
      async () => {
        const existing = new Set(await admin.listTopics());
        const toCreate = missing.filter((t) => !existing.has(t.name));
        if (toCreate.length === 0) return;
        await admin.createTopics({
          waitForLeaders: true,
          topics: toCreate.map((t) => ({
            topic: t.name,
            numPartitions: t.partitions ?? this.options.defaultPartitions ?? 3,
            replicationFactor: this.options.replicationFactor ?? 1,
          })),
        });
      },
      (err) => brokerError('could not create topics', err),
      { attempts: ENSURE_TOPICS_ATTEMPTS, baseDelayMs: 250 },
    );
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
        const byTopic = new Map<string, ProduceRecord[]>();
        for (const r of records) {
          const list = byTopic.get(r.topic);
          if (list === undefined) byTopic.set(r.topic, [r]);
          else list.push(r);
        }
        try {
          const result = await producer.sendBatch({
            acks: -1,
            topicMessages: [...byTopic.entries()].map(([topic, msgs]) => ({
              topic,
              messages: msgs.map((m) => ({
                key: m.key,
                value: m.value,
                headers: m.headers ?? {},
                ...(m.partition === undefined ? {} : { partition: m.partition }),
              })),
            })),
          });
          // kafkajs reports the base offset per partition; records of a topic-partition are consecutive.
          const next = new Map<string, number>();
          for (const m of result) next.set(`${m.topicName}:${m.partition}`, Number(m.baseOffset ?? m.offset ?? '0'));
          return acksFromBaseOffsets(records, next);
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
    const admin = await this.admin();
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, o.high]));
  }

  async committedOffsets(group: string, topic: string): Promise<Map<number, string>> {
    const admin = await this.admin();
    const res = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    const out = new Map<number, string>();
    for (const t of res) for (const p of t.partitions) if (p.offset !== '-1') out.set(p.partition, p.offset);
    return out;
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
        const records: LogRecord[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          headers: toHeaders(m.headers),
          timestamp: Number(m.timestamp),
        }));
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
