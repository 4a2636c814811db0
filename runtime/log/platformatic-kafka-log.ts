import { Admin, Consumer, Producer, type Message, type MessagesStream } from '@platformatic/kafka';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { KafkaLogOptions } from './kafka-log.ts';
import { murmur2 } from './partitioner.ts';
import { acksFromBaseOffsets } from './produce-acks.ts';
import { withRetry } from '../lake/retry.ts';
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

/**
 * The event log on Apache Kafka through `@platformatic/kafka` (pure JavaScript, maintained), the
 * same contract as the kafkajs adapter: consumer groups with manual commits after the sinks
 * acknowledged, an idempotent producer, keyed partitioning by murmur2 as the Java client does.
 *
 * The client's consumer is a Readable stream of single messages over all assigned partitions; the
 * port hands out ordered batches per partition with backpressure. So each partition gets a lane (a
 * queue and one loop that hands its queued records to `eachBatch`, at most `maxBatchRecords` at a
 * time, and waits for it); the stream is paused while the lanes hold more than a bound.
 *
 * Rebalances: on a group join the client fetches again from the committed offsets, and a fetch
 * sent before the join may still answer. A lane therefore remembers the next offset it expects
 * and drops what comes below it (records it already holds or handled), so a partition that stays
 * assigned goes on where it was, in order, and never commits past records it dropped. A revoked
 * partition's lane is dropped and its batch in flight sees `isRunning() === false` (it stops early
 * and commits nothing more). A partition assigned by a rebalance starts at the offset the client
 * restored from the group's commits: records that come for it before that are stale and dropped.
 */
export class PlatformaticKafkaEventLog implements EventLog {
  readonly kind = 'kafka' as const;
  private adminClient: Admin | undefined;
  private readonly producers = new Set<Producer>();
  private readonly consumers = new Set<PlatformaticConsumer>();
  private readonly known = new Set<string>();

  constructor(private readonly options: KafkaLogOptions) {}

  /** Options every client of this log shares. */
  base(suffix: string): { clientId: string; bootstrapBrokers: string[]; retries: number; retryDelay: number } {
    return {
      clientId: `${this.options.clientId ?? 'captionflow'}${suffix}`,
      bootstrapBrokers: [...this.options.brokers],
      // As the kafkajs adapter: a bounded number of client retries, then the engine's own.
      retries: this.options.clientRetries ?? 8,
      retryDelay: 250,
    };
  }

  private admin(): Admin {
    this.adminClient ??= new Admin(this.base('-admin'));
    return this.adminClient;
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    const missing = topics.filter((t) => !this.known.has(t.name));
    if (missing.length === 0) return;
    const admin = this.admin();
    // As the other adapters: a broker busy electing leaders answers retriably; list again and retry.
    await withRetry(
      async () => {
        const existing = new Set(await admin.listTopics());
        // The client creates topics with one partition count per call: group them by it.
        const byCount = new Map<number, string[]>();
        for (const t of missing) {
          if (existing.has(t.name)) continue;
          const n = t.partitions ?? this.options.defaultPartitions ?? 3;
          byCount.set(n, [...(byCount.get(n) ?? []), t.name]);
        }
        for (const [partitions, names] of byCount)
          await admin.createTopics({ topics: names, partitions, replicas: this.options.replicationFactor ?? 1 }).catch((err: unknown) => {
            // Created meanwhile by another member: fine.
            if (!/already exists/i.test(String((err as Error).message) + JSON.stringify((err as { errors?: unknown }).errors ?? ''))) throw err;
          });
      },
      (err) => brokerError('could not create topics', err),
      { attempts: 5, baseDelayMs: 250 },
    );
    for (const t of missing) this.known.add(t.name);
  }

  async producer(): Promise<LogProducer> {
    let roundRobin = 0;
    const producer = new Producer({
      ...this.base('-producer'),
      idempotent: true,
      autocreateTopics: true,
      // murmur2 of the key, positive, as the Java client; the client takes it modulo the partitions.
      // Keyless records go round-robin.
      partitioner: (_message, key) => (key === undefined ? roundRobin++ & 0x7fffffff : murmur2(key) & 0x7fffffff),
    });
    this.producers.add(producer);
    await Promise.resolve();
    // One send at a time per producer. The client's idempotent producer numbers the batches of a
    // partition per send; two sends in flight to one partition can reach the broker out of that
    // order, and the broker then drops a batch as a duplicate sequence while the send resolves
    // (seen here: 2 of 200 records lost with two replicas, none with sends one at a time).
    let tail: Promise<unknown> = Promise.resolve();
    return {
      send: async (records: readonly ProduceRecord[]): Promise<ProduceAck[]> => {
        try {
          const sending = tail.then(() => producer.send({
            acks: -1,
            messages: records.map((r) => ({
              topic: r.topic,
              ...(r.key === null ? {} : { key: typeof r.key === 'string' ? Buffer.from(r.key) : r.key }),
              ...(r.value === null ? {} : { value: r.value }),
              ...(r.headers === undefined ? {} : { headers: toWireHeaders(r.headers) }),
              ...(r.partition === undefined ? {} : { partition: r.partition }),
            })),
          }));
          tail = sending.catch(() => undefined);
          const result = await sending;
          // As the kafkajs adapter: the base offset per partition; records of a topic-partition are consecutive.
          const next = new Map<string, number>();
          for (const o of result.offsets ?? []) next.set(`${o.topic}:${o.partition}`, Number(o.offset));
          return acksFromBaseOffsets(records, next);
        } catch (err) {
          throw brokerError('produce failed', err);
        }
      },
      close: async () => {
        this.producers.delete(producer);
        await producer.close();
      },
    };
  }

  async consumer(options: ConsumerOptions): Promise<LogConsumer> {
    await this.ensureTopics(options.topics.map((name) => ({ name })));
    const consumer = new Consumer({
      ...this.base(''),
      groupId: options.group,
      sessionTimeout: this.options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
      autocommit: false,
      maxWaitTime: 200,
    });
    const onLog = this.options.onLog;
    const member = new PlatformaticConsumer(
      consumer,
      options,
      (topic) => this.committedOffsets(options.group, topic),
      () => this.consumers.delete(member),
      this.options.sessionTimeoutMs ?? 30_000,
      (err, attempt) => onLog?.({ level: 'warn', message: `consumer stream failed, restarting: ${err.message}`, extra: { group: options.group, attempt } }),
    );
    this.consumers.add(member);
    return member;
  }

  async endOffsets(topic: string): Promise<Map<number, string>> {
    // A consumer-less lookup: the admin client has no list-offsets call, a group-less consumer does.
    const probe = new Consumer({ ...this.base('-offsets'), groupId: `captionflow-offsets-probe` });
    try {
      const offsets = await probe.listOffsets({ topics: [topic] });
      return new Map((offsets.get(topic) ?? []).map((o, partition) => [partition, o.toString()]));
    } catch (err) {
      throw brokerError('could not list offsets', err);
    } finally {
      await probe.close().catch(() => undefined);
    }
  }

  async committedOffsets(group: string, topic: string): Promise<Map<number, string>> {
    const res = await this.admin().listConsumerGroupOffsets({ groups: [group] });
    const out = new Map<number, string>();
    for (const g of res)
      for (const t of g.topics)
        if (t.name === topic) for (const p of t.partitions) if (p.committedOffset >= 0n) out.set(p.partitionIndex, p.committedOffset.toString());
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await Promise.all([...this.producers].map((p) => p.close()));
    this.producers.clear();
    await this.adminClient?.close();
    this.adminClient = undefined;
  }
}

/** One partition's queue and whether its loop runs. */
interface Lane {
  readonly topic: string;
  readonly partition: number;
  queue: Message[];
  running: boolean;
  /** The next offset this lane takes: lower ones were queued or handled already. */
  next: bigint;
  /** Set when the partition was revoked: the loop stops, nothing more is committed. */
  revoked: boolean;
}

class PlatformaticConsumer implements LogConsumer {
  private stopping = false;
  private paused = false;
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  private readonly lanes = new Map<string, Lane>();
  /** Partitions assigned to this member (`topic:partition`), as of the last group join. */
  private assigned = new Set<string>();
  /** After a rebalance, until the client restored the committed offsets: new lanes wait. */
  private awaitingOffsets = false;
  private queued = 0;
  private readonly maxQueued: number;
  private readonly inflight = new Set<Promise<void>>();
  private fail: ((err: Error) => void) | undefined;
  private handler: ((batch: ConsumedBatch, control: BatchControl) => Promise<void>) | undefined;
  /** Stream failures in a row (reset once a new stream opened). */
  private restarts = 0;

  constructor(
    private readonly consumer: Consumer,
    private readonly options: ConsumerOptions,
    private readonly offsetsOf: (topic: string) => Promise<Map<number, string>>,
    private readonly onStopped: () => void,
    private readonly sessionTimeoutMs: number,
    private readonly onRestart?: (err: Error, attempt: number) => void,
  ) {
    this.maxQueued = Math.max(1_000, (options.maxBatchRecords ?? 100) * 8);
  }

  async run(eachBatch: (batch: ConsumedBatch, control: BatchControl) => Promise<void>): Promise<void> {
    this.handler = eachBatch;
    const done = new Promise<void>((resolve, reject) => {
      this.fail = reject;
      this.resolveDone = resolve;
    });
    this.consumer.on('consumer:group:join', () => this.onJoin());
    try {
      await this.startStream();
    } catch (err) {
      throw brokerError('could not join the consumer group', err);
    }
    return done;
  }

  /** Open the client's message stream (again after a failure) and feed the lanes from it. */
  private async startStream(): Promise<void> {
    const stream = await this.consumer.consume({
      topics: [...this.options.topics],
      mode: 'committed',
      fallbackMode: this.options.fromBeginning === false ? 'latest' : 'earliest',
      autocommit: false,
      maxWaitTime: 200,
      sessionTimeout: this.sessionTimeoutMs,
      heartbeatInterval: 3_000,
    });
    this.stream = stream;
    if (this.stopping) {
      await stream.close();
      return;
    }
    stream.on('data', (m: Message<Buffer, Buffer, Buffer, Buffer>) => this.accept(m));
    stream.on('offsets', () => this.onOffsets());
    stream.on('error', (err: Error) => this.onStreamError(stream, err));
    if (this.paused) stream.pause();
  }

  /**
   * The stream failed (a broker gone, a request timed out): as kafkajs restarts a crashed
   * consumer, open a new stream after a growing pause, as long as we are not stopping. The new
   * stream reads from the committed offsets; the lanes drop what they already hold.
   */
  private onStreamError(stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>, err: Error): void {
    if (this.stopping || (this.stream !== undefined && this.stream !== stream)) return;
    this.stream = undefined;
    this.restarts++;
    this.onRestart?.(err, this.restarts);
    void stream.close().catch(() => undefined);
    const delay = Math.min(5_000, 250 * 2 ** Math.min(this.restarts, 5));
    setTimeout(() => {
      if (this.stopping) return;
      this.startStream().then(
        () => (this.restarts = 0),
        (again: unknown) => this.onStreamError(stream, again instanceof Error ? again : new Error(String(again))),
      );
    }, delay);
  }

  private resolveDone: (() => void) | undefined;

  /** A rebalance: keep the lanes of partitions still ours, drop the others. */
  private onJoin(): void {
    this.assigned = new Set((this.consumer.assignments ?? []).flatMap((a) => a.partitions.map((p) => `${a.topic}:${p}`)));
    for (const [id, lane] of this.lanes) {
      if (this.assigned.has(id)) continue;
      lane.revoked = true;
      this.queued -= lane.queue.length;
      lane.queue = [];
      this.lanes.delete(id);
    }
    // Before the stream exists (the first join) nothing stale can come: lanes start at the first record.
    if (this.stream !== undefined) this.awaitingOffsets = true;
    this.flow();
  }

  /** The client restored the committed offsets: lanes of newly assigned partitions start there. */
  private onOffsets(): void {
    if (!this.awaitingOffsets || this.stream === undefined) return;
    this.awaitingOffsets = false;
    for (const id of this.assigned) {
      if (this.lanes.has(id)) continue;
      const next = this.stream.offsetsToFetch.get(id);
      if (next === undefined) continue;
      const cut = id.lastIndexOf(':');
      this.lanes.set(id, { topic: id.slice(0, cut), partition: Number(id.slice(cut + 1)), queue: [], running: false, next, revoked: false });
    }
  }

  private accept(m: Message<Buffer, Buffer, Buffer, Buffer>): void {
    const id = `${m.topic}:${m.partition}`;
    if (!this.assigned.has(id)) return;
    let lane = this.lanes.get(id);
    if (lane === undefined) {
      if (this.awaitingOffsets) return;
      lane = { topic: m.topic, partition: m.partition, queue: [], running: false, next: m.offset, revoked: false };
      this.lanes.set(id, lane);
    }
    if (m.offset < lane.next) return;
    lane.next = m.offset + 1n;
    lane.queue.push(m);
    this.queued++;
    this.flow();
    this.drainLane(lane);
  }

  /** Pause the stream while the queues are full or the caller paused; resume otherwise. */
  private flow(): void {
    const stream = this.stream;
    if (stream === undefined) return;
    const hold = this.paused || this.stopping || this.queued >= this.maxQueued;
    if (hold && !stream.isPaused()) stream.pause();
    else if (!hold && stream.isPaused()) stream.resume();
  }

  private drainLane(lane: Lane): void {
    if (lane.running || lane.queue.length === 0 || this.stopping) return;
    lane.running = true;
    const work = this.loop(lane).catch((err: unknown) => {
      this.fail?.(err instanceof Error ? err : new Error(String(err)));
    });
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  private async loop(lane: Lane): Promise<void> {
    const max = this.options.maxBatchRecords ?? 100;
    try {
      while (lane.queue.length > 0 && !this.stopping && !lane.revoked) {
        const chunk = lane.queue.splice(0, max);
        this.queued -= chunk.length;
        this.flow();
        const records: LogRecord[] = chunk.map((m) => ({
          topic: lane.topic,
          partition: lane.partition,
          offset: m.offset.toString(),
          key: m.key ?? null,
          value: m.value ?? null,
          headers: toHeaders(m.headers),
          timestamp: Number(m.timestamp),
        }));
        const isRunning = (): boolean => !this.stopping && !lane.revoked;
        const control: BatchControl = {
          // The client heartbeats on its own timer, whatever the handlers do.
          heartbeat: () => Promise.resolve(),
          isRunning,
          commit: async (nextOffset) => {
            if (!isRunning()) return;
            try {
              await this.consumer.commit({
                offsets: [{ topic: lane.topic, partition: lane.partition, offset: BigInt(nextOffset), leaderEpoch: -1 }],
              });
            } catch (err) {
              // A rebalance raced the commit: the records come again to whoever owns the partition now.
              if (!isRunning()) return;
              throw brokerError('commit failed', err);
            }
          },
        };
        // The client does not hand out the high watermark: the lane's next offset (a lower bound) stands in.
        await this.handler!(
          { topic: lane.topic, partition: lane.partition, records, highWatermark: lane.next.toString() },
          control,
        );
      }
    } finally {
      lane.running = false;
    }
    // Records may have arrived while the last batch was handled.
    this.drainLane(lane);
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.flow();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.flow();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stream?.pause();
    await Promise.allSettled([...this.inflight]);
    await this.stream?.close().catch(() => undefined);
    await this.consumer.close().catch(() => undefined);
    this.onStopped();
    this.resolveDone?.();
  }

  committed(topic: string): Promise<Map<number, string>> {
    return this.offsetsOf(topic);
  }
}

const NO_HEADERS: Headers = Object.freeze({});

function toHeaders(raw: Map<Buffer, Buffer> | undefined): Headers {
  if (raw === undefined || raw.size === 0) return NO_HEADERS;
  const out: Record<string, string> = {};
  for (const [k, v] of raw) if (v !== undefined && v !== null) out[k.toString('utf8')] = v.toString('utf8');
  return out;
}

/** Header keys and values as the client writes them (bytes; ours are UTF-8 strings). */
function toWireHeaders(headers: Headers): Map<Buffer, Buffer> {
  const out = new Map<Buffer, Buffer>();
  for (const [k, v] of Object.entries(headers)) out.set(Buffer.from(k), Buffer.from(v));
  return out;
}

function brokerError(message: string, cause: unknown): PipelineError {
  const c = cause as { canRetry?: unknown; errors?: { canRetry?: unknown }[] };
  // The client marks errors worth retrying (network, leader moves, timeouts) with `canRetry`.
  const retriable = c.canRetry === true || (Array.isArray(c.errors) && c.errors.some((e) => e.canRetry === true)) || c.canRetry === undefined;
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return new PipelineError(ErrorCodes.BROKER_UNAVAILABLE, `${message}${why}`, { retriable, cause });
}

/** Connect to Kafka through @platformatic/kafka. */
export function createPlatformaticKafkaLog(options: KafkaLogOptions): PlatformaticKafkaEventLog {
  return new PlatformaticKafkaEventLog(options);
}
