import { EventEmitter } from 'node:events';
import { PipelineError, ErrorCodes } from '../../schemas/errors.ts';
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
import { partitionForKey } from './partitioner.ts';

/** A record as stored by a local log backend. */
export interface StoredRecord {
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  readonly timestamp: number;
}

/** A record to append to one partition. */
export interface AppendRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  readonly timestamp: number;
}

/**
 * Storage behind the in-process logs. `appendBatch` must be atomic: all records of the call are
 * stored (durably, for the disk backend) or none are.
 */
export interface LogStorage {
  topicPartitions(topic: string): number | undefined;
  createTopic(topic: string, partitions: number): void;
  appendBatch(entries: readonly { topic: string; partition: number; records: readonly AppendRecord[] }[]): number[][];
  read(topic: string, partition: number, fromOffset: number, max: number): StoredRecord[];
  endOffset(topic: string, partition: number): number;
  startOffset(topic: string, partition: number): number;
  committed(group: string, topic: string, partition: number): number | undefined;
  commit(group: string, topic: string, partition: number, offset: number): void;
  close(): void;
}

/** Options shared by the in-process logs. */
export interface LocalLogOptions {
  /** Partitions of auto-created topics. */
  readonly defaultPartitions?: number;
  /** How often an idle partition looks for new records written by another process (ms). */
  readonly pollIntervalMs?: number;
  readonly now?: () => number;
}

interface GroupState {
  readonly members: Set<LocalConsumer>;
}

/**
 * An event log inside this process (memory or disk backend): Kafka's semantics without a
 * broker — partitions, keyed partitioning, consumer groups with committed offsets and
 * partition assignment among the members of a group living in this process.
 */
export class LocalEventLog implements EventLog {
  readonly kind: 'memory' | 'disk';
  private readonly events = new EventEmitter();
  private readonly groups = new Map<string, GroupState>();
  private roundRobin = 0;
  private closed = false;
  readonly defaultPartitions: number;
  readonly pollIntervalMs: number;
  private readonly now: () => number;

  constructor(
    kind: 'memory' | 'disk',
    readonly storage: LogStorage,
    options: LocalLogOptions = {},
  ) {
    this.kind = kind;
    this.defaultPartitions = options.defaultPartitions ?? 3;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.now = options.now ?? Date.now;
    this.events.setMaxListeners(0);
  }

  ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    for (const t of topics) this.partitionsOf(t.name, t.partitions);
    return Promise.resolve();
  }

  /** Partition count of a topic, creating it on first use (like Kafka's auto-create). */
  partitionsOf(topic: string, partitions?: number): number {
    const existing = this.storage.topicPartitions(topic);
    if (existing !== undefined) return existing;
    const count = partitions ?? this.defaultPartitions;
    this.storage.createTopic(topic, count);
    return count;
  }

  producer(): Promise<LogProducer> {
    const send = (records: readonly ProduceRecord[]): Promise<ProduceAck[]> => {
      this.assertOpen();
      const byPartition = new Map<string, { topic: string; partition: number; records: AppendRecord[]; idx: number[] }>();
      records.forEach((r, i) => {
        const partitions = this.partitionsOf(r.topic);
        const key = r.key === null ? null : Buffer.isBuffer(r.key) ? r.key : Buffer.from(r.key);
        const partition = r.partition ?? partitionForKey(key, partitions, this.roundRobin++);
        if (partition < 0 || partition >= partitions) {
          throw new PipelineError(ErrorCodes.INTERNAL, `partition ${partition} out of range for ${r.topic}`);
        }
        const id = `${r.topic}\u0000${partition}`;
        let entry = byPartition.get(id);
        if (entry === undefined) {
          entry = { topic: r.topic, partition, records: [], idx: [] };
          byPartition.set(id, entry);
        }
        entry.records.push({ key, value: r.value, headers: r.headers ?? {}, timestamp: this.now() });
        entry.idx.push(i);
      });
      const entries = [...byPartition.values()];
      const offsets = this.storage.appendBatch(entries);
      const acks: ProduceAck[] = new Array<ProduceAck>(records.length);
      entries.forEach((e, j) => {
        e.idx.forEach((recordIndex, k) => {
          acks[recordIndex] = { topic: e.topic, partition: e.partition, offset: String(offsets[j]![k]) };
        });
        this.events.emit(`append:${e.topic}`);
      });
      return Promise.resolve(acks);
    };
    return Promise.resolve({ send, close: () => Promise.resolve() });
  }

  consumer(options: ConsumerOptions): Promise<LogConsumer> {
    this.assertOpen();
    return Promise.resolve(new LocalConsumer(this, options));
  }

  endOffsets(topic: string): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    const partitions = this.storage.topicPartitions(topic) ?? 0;
    for (let p = 0; p < partitions; p++) out.set(p, String(this.storage.endOffset(topic, p)));
    return Promise.resolve(out);
  }

  committedOffsets(group: string, topic: string): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    const partitions = this.storage.topicPartitions(topic) ?? 0;
    for (let p = 0; p < partitions; p++) {
      const c = this.storage.committed(group, topic, p);
      if (c !== undefined) out.set(p, String(c));
    }
    return Promise.resolve(out);
  }

  /** Read records directly (tests, replay tools); not part of the consumer-group protocol. */
  readAll(topic: string): LogRecord[] {
    const partitions = this.storage.topicPartitions(topic) ?? 0;
    const out: LogRecord[] = [];
    for (let p = 0; p < partitions; p++) {
      const start = this.storage.startOffset(topic, p);
      for (const r of this.storage.read(topic, p, start, Number.MAX_SAFE_INTEGER)) out.push(toLogRecord(topic, p, r));
    }
    return out.sort((a, b) => a.timestamp - b.timestamp || Number(a.offset) - Number(b.offset));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const members = [...this.groups.values()].flatMap((g) => [...g.members]);
    await Promise.all(members.map((m) => m.stop()));
    this.storage.close();
  }

  /** @internal group membership, used by LocalConsumer. */
  join(group: string, member: LocalConsumer): void {
    let state = this.groups.get(group);
    if (state === undefined) {
      state = { members: new Set() };
      this.groups.set(group, state);
    }
    state.members.add(member);
    this.events.emit(`rebalance:${group}`);
  }

  /** @internal */
  leave(group: string, member: LocalConsumer): void {
    this.groups.get(group)?.members.delete(member);
    this.events.emit(`rebalance:${group}`);
  }

  /** @internal Partitions of `topic` owned by `member`: round-robin over members in join order. */
  owns(group: string, member: LocalConsumer, partition: number): boolean {
    const members = [...(this.groups.get(group)?.members ?? [])];
    const index = members.indexOf(member);
    return index >= 0 && partition % members.length === index;
  }

  /** @internal Resolves when `topic` gets new records, the group rebalances, or the poll interval passes. */
  waitForChange(topic: string, group: string, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.events.off(`append:${topic}`, done);
        this.events.off(`rebalance:${group}`, done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, this.pollIntervalMs);
      this.events.on(`append:${topic}`, done);
      this.events.on(`rebalance:${group}`, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new PipelineError(ErrorCodes.SHUTDOWN, 'event log is closed');
  }
}

function toLogRecord(topic: string, partition: number, r: StoredRecord): LogRecord {
  return {
    topic,
    partition,
    offset: String(r.offset),
    key: r.key,
    value: r.value,
    headers: r.headers,
    timestamp: r.timestamp,
  };
}

/** A consumer-group member of a LocalEventLog: one fetch loop per partition it owns. */
class LocalConsumer implements LogConsumer {
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private readonly maxBatch: number;
  /** Settles when a paused consumer is resumed; undefined while fetching. */
  private pausedUntil: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(
    private readonly log: LocalEventLog,
    private readonly options: ConsumerOptions,
  ) {
    this.maxBatch = options.maxBatchRecords ?? 100;
  }

  run(eachBatch: (batch: ConsumedBatch, control: BatchControl) => Promise<void>): Promise<void> {
    if (this.running !== undefined) throw new PipelineError(ErrorCodes.INTERNAL, 'consumer is already running');
    this.log.join(this.options.group, this);
    const loops: Promise<void>[] = [];
    for (const topic of this.options.topics) {
      const partitions = this.log.partitionsOf(topic);
      for (let p = 0; p < partitions; p++) loops.push(this.partitionLoop(topic, p, eachBatch));
    }
    this.running = Promise.all(loops).then(
      () => this.log.leave(this.options.group, this),
      (err: unknown) => {
        this.log.leave(this.options.group, this);
        this.abort.abort(err);
        throw err;
      },
    );
    return this.running;
  }

  pause(): void {
    if (this.pausedUntil !== undefined) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.pausedUntil = { promise, resolve };
  }

  resume(): void {
    const paused = this.pausedUntil;
    this.pausedUntil = undefined;
    paused?.resolve();
  }

  /** While paused: wait for resume or stop. */
  private async whilePaused(signal: AbortSignal): Promise<void> {
    const paused = this.pausedUntil;
    if (paused === undefined) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      void paused.promise.then(done);
    });
  }

  private async partitionLoop(
    topic: string,
    partition: number,
    eachBatch: (batch: ConsumedBatch, control: BatchControl) => Promise<void>,
  ): Promise<void> {
    const { group } = this.options;
    const storage = this.log.storage;
    const signal = this.abort.signal;
    let position: number | undefined;
    let owned = false;
    while (!signal.aborted) {
      if (this.pausedUntil !== undefined) {
        await this.whilePaused(signal);
        continue;
      }
      const owns = this.log.owns(group, this, partition);
      if (!owns) {
        owned = false;
        position = undefined;
        await this.log.waitForChange(topic, group, signal);
        continue;
      }
      if (!owned || position === undefined) {
        // (Re)assigned: resume from the group's committed offset, like Kafka after a rebalance.
        owned = true;
        position =
          storage.committed(group, topic, partition) ??
          (this.options.fromBeginning === false ? storage.endOffset(topic, partition) : storage.startOffset(topic, partition));
      }
      const stored = storage.read(topic, partition, position, this.maxBatch);
      if (stored.length === 0) {
        await this.log.waitForChange(topic, group, signal);
        continue;
      }
      const records = stored.map((r) => toLogRecord(topic, partition, r));
      const stillOwner = (): boolean => !signal.aborted && this.log.owns(group, this, partition);
      const control: BatchControl = {
        heartbeat: () => Promise.resolve(),
        commit: (nextOffset) => {
          // A member that lost the partition must not move the group's offset.
          if (this.log.owns(group, this, partition)) storage.commit(group, topic, partition, Number(nextOffset));
          return Promise.resolve();
        },
        isRunning: stillOwner,
      };
      await eachBatch(
        { topic, partition, records, highWatermark: String(storage.endOffset(topic, partition)) },
        control,
      );
      position = stored[stored.length - 1]!.offset + 1;
    }
  }

  async stop(): Promise<void> {
    this.abort.abort(new PipelineError(ErrorCodes.SHUTDOWN, 'consumer stopped'));
    await this.running?.catch(() => undefined);
  }

  committed(topic: string): Promise<Map<number, string>> {
    return this.log.committedOffsets(this.options.group, topic);
  }
}
