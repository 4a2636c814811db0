import { FakeClock } from '../clock.ts';
import { silentLogger, type Logger } from '../logger.ts';
import type { LocalEventLog } from '../log/local-log.ts';
import { createMemoryLog } from '../log/memory-log.ts';
import { Metrics } from '../metrics.ts';
import type { Headers, Serde, WorkerPool } from '../ports.ts';
import type { DeadLetter } from './dead-letter.ts';
import { JsonSerde } from './json-serde.ts';
import { runTopology, type RunningTopology } from './runner.ts';
import type { Topology } from './topology.ts';

/** Options of the topology test driver. */
export interface TestDriverOptions<D> {
  /** What `ctx.deps` is in the steps (required when the topology needs dependencies). */
  readonly deps?: D;
  readonly serde?: Serde;
  readonly pool?: WorkerPool;
  readonly logger?: Logger;
  readonly partitions?: number;
}

/** A decoded output record. */
export interface OutputRecord<T = unknown> {
  readonly key: string | null;
  readonly value: T;
  readonly headers: Headers;
  readonly partition: number;
  readonly offset: string;
}

/**
 * Runs a topology on the in-memory log with a fake clock — no broker — like Kafka Streams'
 * TopologyTestDriver: pipe inputs, let it settle, read outputs and dead letters, advance time.
 */
export class TopologyTestDriver<D = unknown> {
  readonly clock = new FakeClock();
  readonly metrics = new Metrics();
  readonly log: LocalEventLog;
  readonly serde: Serde;
  private running: RunningTopology | undefined;

  constructor(
    readonly topology: Topology<D>,
    private readonly options: TestDriverOptions<D> = {},
  ) {
    this.log = createMemoryLog({ defaultPartitions: options.partitions ?? 3, pollIntervalMs: 5, now: () => this.clock.now() });
    this.serde = options.serde ?? new JsonSerde();
  }

  /** Start the topology (called by the first `pipe`). */
  async start(): Promise<void> {
    if (this.running !== undefined) return;
    this.running = await runTopology(this.topology, {
      log: this.log,
      serde: this.serde,
      clock: this.clock,
      metrics: this.metrics,
      logger: this.options.logger ?? silentLogger,
      deps: this.options.deps as D,
      ...(this.options.pool === undefined ? {} : { pool: this.options.pool }),
    });
  }

  /** Produce values to the topology's source topic (encoded with the serde). */
  async pipe(values: readonly unknown[], options: { key?: (v: unknown, i: number) => string | null; headers?: Headers } = {}): Promise<void> {
    await this.start();
    const producer = await this.log.producer();
    const topic = this.topology.source.topic.name;
    const records = await Promise.all(
      values.map(async (v, i) => ({ topic, key: options.key ? options.key(v, i) : null, value: await this.serde.encode(topic, v), headers: options.headers ?? {} })),
    );
    await producer.send(records);
  }

  /** Produce raw bytes (bad frames, poison records) to the source topic. */
  async pipeRaw(records: readonly { key?: string | null; value: Buffer; headers?: Headers }[]): Promise<void> {
    await this.start();
    const producer = await this.log.producer();
    await producer.send(records.map((r) => ({ topic: this.topology.source.topic.name, key: r.key ?? null, value: r.value, headers: r.headers ?? {} })));
  }

  /** True when the source group committed everything produced so far. */
  async idle(): Promise<boolean> {
    const topic = this.topology.source.topic.name;
    const ends = await this.log.endOffsets(topic);
    for (let p = 0; p < (this.log.storage.topicPartitions(topic) ?? 0); p++) {
      const committed = this.log.storage.committed(this.topology.source.group, topic, p) ?? 0;
      if (committed < Number(ends.get(p) ?? '0')) return false;
    }
    return true;
  }

  /**
   * Wait until every piped record is processed and committed. Retry backoffs sleeping on the fake
   * clock are fast-forwarded, so retries complete without real waiting. Fails after `maxSteps`.
   */
  async settle(maxSteps = 10_000): Promise<void> {
    for (let i = 0; i < maxSteps; i++) {
      if (await this.idle()) return;
      if (this.clock.pending > 0) await this.clock.advance(60_000);
      else await new Promise((r) => setTimeout(r, 1));
    }
    throw new Error(`topology ${this.topology.name} did not settle`);
  }

  /** Decoded records of a topic, in append order. */
  async read<T = unknown>(topic: string): Promise<OutputRecord<T>[]> {
    return Promise.all(
      this.log.readAll(topic).map(async (r) => ({
        key: r.key === null ? null : r.key.toString('utf8'),
        value: (await this.serde.decode(topic, r.value ?? Buffer.alloc(0))).value as T,
        headers: r.headers,
        partition: r.partition,
        offset: r.offset,
      })),
    );
  }

  /** Dead letters written by the topology. */
  async deadLetters(): Promise<DeadLetter[]> {
    return (await this.read<DeadLetter>(this.topology.deadLetterTopic)).map((r) => r.value);
  }

  /** Stop the topology and close the log. */
  async close(): Promise<void> {
    await this.running?.stop({ deadlineMs: 1_000 });
    await this.log.close();
  }

  /** The topology's completion (rejects when a `fail` policy escalated). */
  get done(): Promise<void> | undefined {
    return this.running?.done;
  }
}
