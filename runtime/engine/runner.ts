import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { systemClock } from '../clock.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { Metrics } from '../metrics.ts';
import type { BatchControl, Clock, ConsumedBatch, EventLog, Serde, WorkerPool } from '../ports.ts';
import { Committer } from './committer.ts';
import { PartitionLoop } from './partition-loop.ts';
import { PauseControl } from './pause-control.ts';
import { ProducerSlot } from './producer-slot.ts';
import { RecordProcessor } from './record-processor.ts';
import { Abandoned, Escalated } from './shutdown.ts';
import { StepMeters } from './step-meters.ts';
import { backoff, Supervisor } from './supervisor.ts';
import { topicsOf, type Topology } from './topology.ts';

export { DEPENDENCY_UNAVAILABLE, SINK_UNAVAILABLE } from './pause-control.ts';

/** The adapters a topology runs on. */
interface Adapters {
  readonly log: EventLog;
  readonly serde: Serde;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly pool?: WorkerPool;
}

/**
 * The adapters a topology runs on, and `deps`: what `ctx.deps` is in its steps (its state
 * stores are opened from it) — required when the topology declares what it needs.
 */
export type RuntimeAdapters<D> = Adapters & (unknown extends D ? { readonly deps?: D } : { readonly deps: D });

/** A running topology. */
export interface RunningTopology {
  readonly name: string;
  /** Settles when the topology stopped: resolves after `stop()`, rejects when a record failed with policy `fail`. */
  readonly done: Promise<void>;
  /**
   * Graceful shutdown: stop fetching, let in-flight records finish and commit, leave the group.
   * Past `deadlineMs` the remaining work is abandoned uncommitted (it will be replayed).
   */
  stop(options?: { deadlineMs?: number }): Promise<void>;
  /**
   * Stop fetching new records (in-flight ones finish and commit; the consumer stays in its group)
   * until every reason given here is resumed. The runner pauses by itself, with reason
   * `sink-unavailable`, while producing its outputs fails, and resumes once they are written.
   */
  pause(reason?: string): void;
  /** Withdraw a pause reason (default `operator`); fetching restarts when none is left. */
  resume(reason?: string): void;
  /** Why the topology is paused right now; empty while it fetches. */
  readonly pausedFor: readonly string[];
}

/**
 * Run a topology on the given adapters until stopped. The runner is assembled from small parts:
 * the partition loop (RxJS, per partition), the record processor (the compiled tree), the
 * supervisor (retries, outage waits, dead letters), the producer slot (retry and replacement),
 * the committer and the pause control.
 *
 * Semantics (the same on memory, disk and Kafka logs): records of one partition arrive in
 * batches; within a batch, records with the same key run in order and distinct keys run
 * concurrently up to `maxInFlight`; outputs and dead letters of the batch are produced, then
 * the batch's offset is committed — so a crash at any point replays, never loses, and
 * idempotent sinks (keys derived from content and event ids) make replays change nothing.
 */
export async function runTopology<D>(topology: Topology<D>, adapters: RuntimeAdapters<D>): Promise<RunningTopology> {
  const t = topology as Topology<never>;
  const { log, serde } = adapters;
  const clock = adapters.clock ?? systemClock;
  const logger = (adapters.logger ?? silentLogger).child({ topology: t.name });
  const metrics = adapters.metrics ?? new Metrics();
  const abort = new AbortController();

  // State stores are opened before anything is fetched: a store that cannot open fails the start.
  const stores = new Map<string, unknown>();
  for (const s of topology.stores) stores.set(s.name, await s.open(adapters.deps as D));

  await log.ensureTopics(topicsOf(t).map((name) => ({ name })));
  const pause = new PauseControl(t.name, logger, metrics);
  const meters = new StepMeters(t.name, RecordProcessor.stepNames(t), metrics);
  const supervisor = new Supervisor({ topology: t, serde, clock, logger, meters, pause, signal: abort.signal });
  const processor = new RecordProcessor({ topology: t, serde, supervisor, meters, clock, logger, pool: adapters.pool, signal: abort.signal, deps: adapters.deps, stores });
  const producer = await ProducerSlot.open(log, { clock, logger, pause, backoff: (n) => backoff(t.errors.retry, n), signal: abort.signal });
  const committer = new Committer(t.name, metrics);
  const consumer = await log.consumer({ group: t.source.group, topics: [t.source.topic.name], fromBeginning: t.source.fromBeginning ?? true, maxBatchRecords: t.run.maxBatchRecords });
  pause.attach(consumer);

  let fatal: PipelineError | undefined;
  const heartbeats = new Map<ConsumedBatch, NodeJS.Timeout>();
  const loop = new PartitionLoop(
    {
      record: (record, key, out) => processor.process(record, key, out),
      produce: (out) => producer.sendAll(out),
      commit: (batch, control) => committer.commit(batch, control),
      started: (batch: ConsumedBatch, control: BatchControl) => {
        heartbeats.set(batch, setInterval(() => void control.heartbeat().catch(() => undefined), 1_000));
        metrics.inFlightAdd(t.name, batch.records.length);
      },
      finished: (batch) => {
        clearInterval(heartbeats.get(batch));
        heartbeats.delete(batch);
        metrics.inFlightAdd(t.name, -batch.records.length);
      },
    },
    t.run.maxInFlight,
  );

  /** A batch's end: abandoned at shutdown (replayed later) and escalations are not consumer errors. */
  const handleBatch = async (batch: ConsumedBatch, control: BatchControl): Promise<void> => {
    try {
      await loop.handle(batch, control);
    } catch (err) {
      if (err instanceof Abandoned) {
        logger.warn({ partition: batch.partition }, 'batch abandoned at shutdown; it will be replayed');
        return;
      }
      if (err instanceof Escalated) {
        // Policy `fail`: leave the batch uncommitted and stop the whole topology.
        fatal ??= err.error;
        void consumer.stop();
        return;
      }
      throw err;
    }
  };

  logger.info({ source: t.source.topic.name, group: t.source.group, log: log.kind }, 'topology starting');
  const done = consumer.run(handleBatch).then(
    async () => {
      loop.close();
      processor.close();
      await producer.close();
      if (fatal !== undefined) {
        logger.error({ code: fatal.code, err: fatal.message }, 'topology failed');
        throw fatal;
      }
      logger.info('topology stopped');
    },
    async (err: unknown) => {
      loop.close();
      processor.close();
      await producer.close().catch(() => undefined);
      const cause = PipelineError.from(err);
      logger.error({ code: cause.code, err: cause.message }, 'topology failed');
      throw cause;
    },
  );
  // Callers that never await `done` must not crash the process with an unhandled rejection.
  done.catch(() => undefined);

  return {
    name: t.name,
    done,
    pause: (reason = 'operator') => pause.pause(reason),
    resume: (reason = 'operator') => pause.resume(reason),
    get pausedFor() {
      return pause.pausedFor;
    },
    async stop(options = {}) {
      const deadline = options.deadlineMs ?? 30_000;
      const timer = setTimeout(() => abort.abort(new PipelineError(ErrorCodes.SHUTDOWN, 'shutdown deadline passed')), deadline);
      try {
        await consumer.stop();
        await done.catch(() => undefined);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
