/**
 * The ports: small interfaces that topologies, processors' runners and services talk to.
 * Adapters (memory, disk, kafka, fs, s3, sqlite, mongo, piscina…) implement them; no adapter
 * leaks a client library type through a port, so a topology runs unchanged on any of them.
 */

/** Header values as they travel on the log (Kafka headers are bytes; strings are UTF-8). */
export type Headers = Record<string, string>;

/** A record as read from the event log. Offsets are decimal strings, as in Kafka (they exceed 2^53). */
export interface LogRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  /** Milliseconds since the epoch when the record was appended. */
  readonly timestamp: number;
}

/** A record to append. */
export interface ProduceRecord {
  readonly topic: string;
  readonly key: Buffer | string | null;
  readonly value: Buffer | null;
  readonly headers?: Headers;
  /** Explicit partition; otherwise the key decides (same key → same partition, so order per key holds). */
  readonly partition?: number;
}

/** Where a produced record landed. */
export interface ProduceAck {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** Appends records durably; `send` resolves only when every record is acknowledged. */
export interface LogProducer {
  send(records: readonly ProduceRecord[]): Promise<ProduceAck[]>;
  close(): Promise<void>;
}

/** A batch of consecutive records of one partition. */
export interface ConsumedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly LogRecord[];
  /** Offset of the partition's end when the batch was fetched (for lag). */
  readonly highWatermark: string;
}

/** What a batch handler may do while it works on a batch. */
export interface BatchControl {
  /** Keep the group membership alive during long work. */
  heartbeat(): Promise<void>;
  /** Commit `nextOffset` (the offset of the next record to read) for the batch's partition. */
  commit(nextOffset: string): Promise<void>;
  /** False once the consumer is stopping or the partition was revoked: stop early, commit nothing more. */
  isRunning(): boolean;
}

/** Options of a consumer-group member. */
export interface ConsumerOptions {
  readonly group: string;
  readonly topics: readonly string[];
  /** Where a group with no committed offset starts. */
  readonly fromBeginning?: boolean;
  /** Upper bound of records handed to one `eachBatch` call (bounds in-flight work). */
  readonly maxBatchRecords?: number;
}

/** A member of a consumer group: records of each assigned partition arrive in order, batch by batch. */
export interface LogConsumer {
  /**
   * Start consuming. `eachBatch` is awaited before the next batch of the same partition is
   * delivered (backpressure); offsets move only through `BatchControl.commit`.
   */
  run(eachBatch: (batch: ConsumedBatch, control: BatchControl) => Promise<void>): Promise<void>;
  /** Stop fetching, let the running batch handlers finish, leave the group. */
  stop(): Promise<void>;
  /**
   * Stop fetching new batches (backpressure) while staying in the group: batches being handled
   * finish and commit, heartbeats go on, partitions stay assigned. Idempotent; may be called
   * before `run`.
   */
  pause(): void;
  /** Fetch again after `pause`. Idempotent. */
  resume(): void;
  /** Committed offset (next to read) per partition of a topic, for lag and tests. */
  committed(topic: string): Promise<Map<number, string>>;
}

/** The topic definition a log needs to create a topic. */
export interface TopicSpec {
  readonly name: string;
  readonly partitions?: number;
}

/** A durable, partitioned, replayable event log (memory, disk or Kafka). */
export interface EventLog {
  readonly kind: 'memory' | 'disk' | 'kafka';
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>;
  producer(): Promise<LogProducer>;
  consumer(options: ConsumerOptions): Promise<LogConsumer>;
  /** End offset (next offset to be written) per partition. */
  endOffsets(topic: string): Promise<Map<number, string>>;
  /** Offsets a consumer group committed on a topic (next to read), per partition; missing = none yet. */
  committedOffsets(group: string, topic: string): Promise<Map<number, string>>;
  close(): Promise<void>;
}

/** Encodes and decodes record values (Avro with Confluent framing in production). */
export interface Serde {
  encode(topic: string, value: unknown): Promise<Buffer>;
  /** Decode with the topic's reader schema; throws PipelineError with a SCHEMA_* / PAYLOAD_* code on bad frames. */
  decode(topic: string, bytes: Buffer): Promise<{ schemaId: number; value: unknown }>;
}

/** Time, injectable so tests can advance it. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Runs a processor module on worker threads. */
export interface WorkerPool {
  /** Run the default export of `module` on `task`; `transfer` lists ArrayBuffers moved, not copied. */
  run<TIn, TOut>(module: URL, task: TIn, transfer?: readonly ArrayBuffer[]): Promise<TOut>;
  readonly size: number;
  close(): Promise<void>;
}
