import { from, lastValueFrom, mergeMap, defaultIfEmpty } from 'rxjs';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { systemClock } from '../clock.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { Metrics } from '../metrics.ts';
import type {
  BatchControl,
  Clock,
  ConsumedBatch,
  EventLog,
  LogConsumer,
  LogProducer,
  LogRecord,
  ProduceRecord,
  Serde,
  WorkerPool,
} from '../ports.ts';
import { deadLetterOf } from './dead-letter.ts';
import type { ErrorOutcome, ErrorPolicy, OutagePolicy, RecordMeta, RetryPolicy, Services, StepContext, Topology } from './topology.ts';
import { topicsOf } from './topology.ts';

/** The adapters a topology runs on. */
export interface RuntimeAdapters<S extends Services = Services> {
  readonly log: EventLog;
  readonly serde: Serde;
  readonly services?: S;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly pool?: WorkerPool;
}

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

/** The pause reason the runner uses while its outputs cannot be produced. */
export const SINK_UNAVAILABLE = 'sink-unavailable';
/** The pause reason while records wait for a dependency that is down (errors whose `isOutage`). */
export const DEPENDENCY_UNAVAILABLE = 'dependency-unavailable';

/** Thrown inside a batch when shutdown passed its deadline: the batch is left uncommitted. */
class Abandoned extends Error {}

/** Thrown when a record failed under policy `fail`: the topology stops without committing it. */
class Escalated extends Error {}

interface Failure {
  readonly error: PipelineError;
  readonly attempts: number;
  readonly firstAt: number;
  readonly lastAt: number;
}

/** A value made from (schema id, model version), remade only when they change between calls. */
type Memo<T> = (schema: string, model: string | undefined) => T;

function memo<T>(make: (schema: string, model: string | undefined) => T): Memo<T> {
  let lastSchema: string | undefined;
  let lastModel: string | undefined;
  let last: T | undefined;
  return (schema, model) => {
    if (last === undefined || schema !== lastSchema || model !== lastModel) {
      last = make(schema, model);
      lastSchema = schema;
      lastModel = model;
    }
    return last;
  };
}

/** What a step's context says of the record it works on. */
function metaOf(record: LogRecord, key: string | null, schemaId: number): RecordMeta {
  return { topic: record.topic, partition: record.partition, offset: record.offset, key, headers: record.headers, timestamp: record.timestamp, schemaId };
}

function backoff(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1));
}

/**
 * Run a topology on the given adapters until stopped.
 *
 * Semantics (the same on memory, disk and Kafka logs): records of one partition arrive in
 * batches; within a batch, records with the same key run in order and distinct keys run
 * concurrently up to `maxInFlight`; outputs and dead letters of the batch are produced, then
 * the batch's offset is committed — so a crash at any point replays, never loses, and
 * idempotent sinks (keys derived from content and event ids) make replays change nothing.
 */
export async function runTopology<S extends Services>(
  topology: Topology<S>,
  adapters: RuntimeAdapters<S>,
): Promise<RunningTopology> {
  const t = topology as unknown as Topology<Services>;
  const { log, serde } = adapters;
  const clock = adapters.clock ?? systemClock;
  const logger = (adapters.logger ?? silentLogger).child({ topology: t.name });
  const metrics = adapters.metrics ?? new Metrics();
  const services = (adapters.services ?? {});
  const abort = new AbortController();

  await log.ensureTopics(topicsOf(t).map((name) => ({ name })));
  // The producer in use and its generation; a producer that failed is replaced (see produceAll).
  let current: { producer: LogProducer; generation: number } = { producer: await log.producer(), generation: 0 };
  let replacing: Promise<void> | undefined;
  const consumer: LogConsumer = await log.consumer({
    group: t.source.group,
    topics: [t.source.topic.name],
    fromBeginning: t.source.fromBeginning ?? true,
    maxBatchRecords: t.run.maxBatchRecords,
  });

  type Policy = { retry: RetryPolicy; otherwise: ErrorOutcome; outages: OutagePolicy };
  const policyOf = (p: ErrorPolicy | undefined): Policy => ({
    retry: { ...t.errors.retry, ...p?.retry },
    otherwise: p?.otherwise ?? t.errors.otherwise,
    outages: p?.outages ?? t.errors.outages,
  });
  // Policies are resolved once per step, not per record (the hot path). Topic sinks only select
  // and encode: a failure there is the value's fault and not retried — unless the registry is down.
  const policies = new Map<string, Policy>();
  for (const s of [...t.steps, ...t.sinks])
    policies.set(s.name, s.kind === 'topic' ? { retry: { ...t.errors.retry, attempts: 1 }, otherwise: 'dead-letter', outages: t.errors.outages } : policyOf(s.errors));
  policies.set('decode', { retry: { ...t.errors.retry, attempts: 1 }, otherwise: 'dead-letter', outages: t.errors.outages });

  // What each step and topic sink does with a value, built once (no closures per record).
  const stepInvokers = new Map<string, (v: unknown, ctx: StepContext<Services>) => Promise<unknown[]>>();
  for (const step of t.steps) {
    switch (step.kind) {
      case 'map': {
        const fn = step.fn as (v: unknown, c: StepContext) => unknown;
        stepInvokers.set(step.name, async (v, ctx) => [await fn(v, ctx)]);
        break;
      }
      case 'flatMap': {
        const fn = step.fn as (v: unknown, c: StepContext) => Promise<readonly unknown[]>;
        stepInvokers.set(step.name, async (v, ctx) => [...(await fn(v, ctx))]);
        break;
      }
      case 'worker': {
        const toTask = step.toTask as ((v: unknown, c: StepContext) => Promise<{ task: unknown; transfer?: ArrayBuffer[] }>) | undefined;
        const fromResult = step.fromResult as ((r: unknown, v: unknown, c: StepContext) => unknown) | undefined;
        stepInvokers.set(step.name, async (v, ctx) => {
          const pool = adapters.pool;
          if (pool === undefined) throw new PipelineError(ErrorCodes.INTERNAL, `step ${step.name} needs a worker pool`);
          const { task, transfer } = toTask ? await toTask(v, ctx) : { task: v, transfer: [] };
          const result = await pool.run(step.module, task, transfer ?? []);
          return [fromResult ? await fromResult(result, v, ctx) : result];
        });
        break;
      }
    }
  }
  const topicInvokers = new Map<string, (v: unknown, ctx: StepContext<Services>) => Promise<ProduceRecord | undefined>>();
  for (const sink of t.sinks) {
    if (sink.kind !== 'topic') continue;
    const select = sink.select as ((v: unknown, c: StepContext) => unknown) | undefined;
    const keyOf = sink.key as (v: unknown, c: StepContext) => string | null;
    const headersOf = sink.headers as ((v: unknown, c: StepContext) => Record<string, string>) | undefined;
    topicInvokers.set(sink.name, async (v, ctx) => {
      const selected = select ? select(v, ctx) : v;
      if (selected === undefined) return undefined;
      const r = ctx.record;
      // Provenance in one header (each header costs an encode per record): topology@topic/partition/offset.
      const source = `${t.name}@${r.topic}/${r.partition}/${r.offset}`;
      return {
        topic: sink.topic.name,
        key: keyOf(v, ctx),
        value: await serde.encode(sink.topic.name, selected),
        headers: headersOf === undefined ? { 'cf-source': source } : { ...headersOf(v, ctx), 'cf-source': source },
      };
    });
  }

  // Metric handles per step, re-resolved only when a record's schema id or model version differs
  // from the previous record's: no label hashing per record on the hot path.
  const meters = new Map<string, { ok: Memo<(n?: number) => void>; duration: Memo<(s: number) => void> }>();
  for (const name of ['decode', ...t.steps.map((s) => s.name), ...t.sinks.map((s) => s.name)]) {
    meters.set(name, {
      ok: memo((schema, model) => metrics.counter({ topology: t.name, step: name, schema_id: schema, outcome: 'ok', model_version: model })),
      duration: memo((schema, model) => metrics.observer({ topology: t.name, step: name, schema_id: schema, model_version: model })),
    });
  }

  /** Run `invoke(value)` under the step's supervision policy: retriable errors retry with backoff, others fail at once. */
  async function supervised<T>(
    step: string,
    meta: RecordMeta,
    schema: string,
    labels: StepContext['labels'],
    invoke: (value: unknown, ctx: StepContext<Services>) => Promise<T>,
    value: unknown,
  ): Promise<{ ok: true; value: T } | { ok: false; failure: Failure }> {
    const { retry, outages } = policies.get(step)!;
    let firstAt = 0;
    const started = performance.now();
    // Made only when a dependency is down: no allocation on the hot path.
    let outage: OutageWait | undefined;
    try {
      for (let attempt = 1, counted = 1; ; attempt++, counted++) {
        const ctx: StepContext<Services> = {
          topology: t.name,
          step,
          attempt,
          record: meta,
          services,
          clock,
          logger,
          pool: adapters.pool,
          signal: abort.signal,
          labels,
        };
        try {
          const result = await invoke(value, ctx);
          meters.get(step)!.duration(schema, labels.model_version)((performance.now() - started) / 1000);
          return { ok: true, value: result };
        } catch (err) {
          if (err instanceof Abandoned || err instanceof Escalated) throw err;
          const error = PipelineError.from(err);
          const now = clock.now();
          if (attempt === 1) firstAt = now;
          const outcomeLabels = { topology: t.name, step, schema_id: schema, model_version: labels.model_version };
          if (outages === 'wait' && error.isOutage) {
            // Not the record's fault: wait for the dependency as long as it takes, fetching nothing new.
            metrics.count({ ...outcomeLabels, outcome: 'retry' });
            outage ??= new OutageWait(step, meta);
            await outage.wait(error, attempt, retry);
            counted = 0;
            continue;
          }
          if (error.retriable && counted < retry.attempts) {
            metrics.count({ ...outcomeLabels, outcome: 'retry' });
            logger.warn({ step, attempt, code: error.code, err: error.message, offset: meta.offset }, 'step failed, retrying');
            try {
              await clock.sleep(backoff(retry, counted), abort.signal);
            } catch {
              throw new Abandoned('shutdown during retry backoff');
            }
            continue;
          }
          metrics.count({ ...outcomeLabels, outcome: String(error.code) });
          return { ok: false, failure: { error, attempts: attempt, firstAt, lastAt: now } };
        }
      }
    } finally {
      outage?.end();
    }
  }

  // Records waiting on an unavailable dependency; while there are any the topology does not fetch.
  let waitingOnDependency = 0;

  /** One record's wait on an outage: pauses the topology on the first failure, resumes when the last waiter is through. */
  class OutageWait {
    private waiting = false;
    constructor(
      private readonly step: string,
      private readonly meta: RecordMeta,
    ) {}

    async wait(error: PipelineError, attempt: number, retry: RetryPolicy): Promise<void> {
      if (!this.waiting) {
        this.waiting = true;
        if (waitingOnDependency++ === 0) pause(DEPENDENCY_UNAVAILABLE);
      }
      // Loud at first, then every tenth attempt: an outage can last a while.
      if (attempt === 1 || attempt % 10 === 0)
        logger.warn({ step: this.step, attempt, code: error.code, err: error.message, offset: this.meta.offset }, 'dependency unavailable, waiting');
      try {
        await clock.sleep(backoff(retry, Math.min(attempt, 30)), abort.signal);
      } catch {
        throw new Abandoned('shutdown while waiting for a dependency');
      }
    }

    end(): void {
      if (!this.waiting) return;
      this.waiting = false;
      if (--waitingOnDependency === 0) resume(DEPENDENCY_UNAVAILABLE);
    }
  }

  /** Act on a failed record by policy: dead-letter it (pushed to `out`), skip it, or escalate. */
  async function fail(record: LogRecord, out: ProduceRecord[], step: string, f: Failure, outcome: ErrorOutcome): Promise<void> {
    if (outcome === 'fail') {
      logger.error({ step, code: f.error.code, err: f.error.message, offset: record.offset }, 'record failed, stopping topology');
      throw new Escalated(`${t.name}/${step}: ${f.error.message}`, { cause: f.error });
    }
    if (outcome === 'skip') {
      metrics.count({ topology: t.name, step, outcome: 'skipped' });
      return;
    }
    const letter = deadLetterOf(record, { topology: t.name, step }, f.error, f.attempts, f.firstAt, f.lastAt);
    out.push({
      topic: t.deadLetterTopic,
      key: record.key,
      value: await serde.encode(t.deadLetterTopic, letter),
      headers: { 'cf-error-code': letter.errorCode, 'cf-topology': t.name, 'cf-step': step },
    });
    metrics.count({ topology: t.name, step, outcome: 'dead_letter' });
    logger.info({ step, code: letter.errorCode, offset: record.offset, partition: record.partition }, 'record dead-lettered');
  }

  /** Process one record; pushes its outputs and dead letters to `out`. */
  async function processRecord(record: LogRecord, key: string | null, out: ProduceRecord[]): Promise<void> {
    if (record.value === null) {
      metrics.count({ topology: t.name, step: 'decode', outcome: 'tombstone' });
      return;
    }
    // Decoding skips the supervision machinery (the hot path): bad bytes will not get better, so
    // they are dead-lettered at once; only a schema registry that is down is waited for.
    let decoded: { schemaId: number; value: unknown };
    try {
      decoded = await serde.decode(t.source.topic.name, record.value);
    } catch (err) {
      const error = PipelineError.from(err);
      if (!(error.isOutage && policies.get('decode')!.outages === 'wait')) {
        const now = clock.now();
        metrics.count({ topology: t.name, step: 'decode', outcome: String(error.code) });
        return fail(record, out, 'decode', { error, attempts: 1, firstAt: now, lastAt: now }, 'dead-letter');
      }
      const value = record.value;
      const res = await supervised('decode', metaOf(record, key, -1), '', {}, (_v) => serde.decode(t.source.topic.name, value), undefined);
      if (!res.ok) return fail(record, out, 'decode', res.failure, 'dead-letter');
      decoded = res.value;
    }
    const schema = String(decoded.schemaId);
    const meta = metaOf(record, key, decoded.schemaId);
    const labels: StepContext['labels'] = {};
    meters.get('decode')!.ok(schema, undefined)();

    let values: unknown[] = [decoded.value];
    for (const step of t.steps) {
      const next: unknown[] = [];
      for (const v of values) {
        const res = await supervised(step.name, meta, schema, labels, stepInvokers.get(step.name)!, v);
        if (!res.ok) {
          await fail(record, out, step.name, res.failure, policies.get(step.name)!.otherwise);
          continue;
        }
        if (res.value.length === 0) metrics.count({ topology: t.name, step: step.name, outcome: 'dropped', model_version: labels.model_version });
        else meters.get(step.name)!.ok(schema, labels.model_version)(res.value.length);
        for (const x of res.value) next.push(x);
      }
      values = next;
      if (values.length === 0) return;
    }

    for (const v of values) {
      for (const sink of t.sinks) {
        if (sink.kind === 'effect') {
          const res = await supervised(sink.name, meta, schema, labels, sink.write as (v: unknown, c: StepContext) => Promise<void>, v);
          if (!res.ok) {
            await fail(record, out, sink.name, res.failure, policies.get(sink.name)!.otherwise);
            return;
          }
          meters.get(sink.name)!.ok(schema, labels.model_version)();
          continue;
        }
        // Topic sinks only select and encode: a failure there is the value's fault, never retried.
        const res = await supervised(sink.name, meta, schema, labels, topicInvokers.get(sink.name)!, v);
        if (!res.ok) {
          await fail(record, out, sink.name, res.failure, 'dead-letter');
          return;
        }
        if (res.value !== undefined) {
          out.push(res.value);
          meters.get(sink.name)!.ok(schema, labels.model_version)();
        }
      }
    }
  }

  // Pause reasons; the consumer fetches only while there are none.
  const pauses = new Set<string>();
  function pause(reason: string): void {
    if (pauses.has(reason)) return;
    pauses.add(reason);
    if (pauses.size === 1) consumer.pause();
    metrics.setPaused(t.name, true);
    logger.warn({ reason, reasons: [...pauses] }, 'topology paused: not fetching');
  }
  function resume(reason: string): void {
    if (!pauses.delete(reason)) return;
    if (pauses.size === 0) {
      consumer.resume();
      metrics.setPaused(t.name, false);
    }
    logger.info({ reason, reasons: [...pauses] }, pauses.size === 0 ? 'topology resumed' : 'pause reason withdrawn, still paused');
  }

  /**
   * Produce with retries while the broker is unavailable; only shutdown past the deadline gives
   * up. Meanwhile the topology stops fetching (backpressure: no new work piles up behind a sink
   * that cannot take it), and fetches again once this batch's outputs are written.
   */
  async function produceAll(records: ProduceRecord[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const { producer, generation } = current;
      try {
        await producer.send(records);
        resume(SINK_UNAVAILABLE);
        return;
      } catch (err) {
        const error = PipelineError.from(err);
        pause(SINK_UNAVAILABLE);
        logger.warn({ attempt, code: error.code, err: error.message }, 'produce failed, retrying');
        await replaceProducer(generation).catch((e: unknown) => logger.warn({ err: (e as Error).message }, 'could not open a new producer yet'));
        try {
          await clock.sleep(backoff(t.errors.retry, Math.min(attempt, 10)), abort.signal);
        } catch {
          throw new Abandoned('shutdown while producing');
        }
      }
    }
  }

  /**
   * Swap in a new producer after the one of `failed` generation failed. A producer can stay broken
   * after its broker came back (kafkajs' idempotent producer loses its sequence state when the
   * broker restarts, and then fails every send); a new one gets a new producer id. Concurrent
   * batches that saw the same producer fail share one replacement.
   */
  function replaceProducer(failed: number): Promise<void> {
    if (failed !== current.generation) return Promise.resolve();
    replacing ??= (async () => {
      try {
        const fresh = await log.producer();
        const old = current.producer;
        current = { producer: fresh, generation: current.generation + 1 };
        await old.close().catch(() => undefined);
      } finally {
        replacing = undefined;
      }
    })();
    return replacing;
  }

  async function handleBatch(batch: ConsumedBatch, control: BatchControl): Promise<void> {
    const heartbeat = setInterval(() => {
      control.heartbeat().catch(() => undefined);
    }, 1_000);
    metrics.inFlightAdd(t.name, batch.records.length);
    try {
      const out: ProduceRecord[] = [];
      // Same key → same group → strictly in order; distinct keys run concurrently, at most
      // maxInFlight groups at once (backpressure: the next batch waits for this one).
      // (Keys are decoded once, as UTF-8; byte keys that decode alike share a group — still in order.)
      const groups = new Map<string, { key: string | null; records: LogRecord[] }>();
      for (const r of batch.records) {
        const key = r.key === null ? null : r.key.toString('utf8');
        const k = key ?? `\u0000${r.offset}`;
        const g = groups.get(k);
        if (g === undefined) groups.set(k, { key, records: [r] });
        else g.records.push(r);
      }
      await lastValueFrom(
        from(groups.values()).pipe(
          mergeMap(async ({ key, records }) => {
            for (const r of records) await processRecord(r, key, out);
          }, t.run.maxInFlight),
          defaultIfEmpty(undefined),
        ),
      );
      if (out.length > 0) await produceAll(out);
      const last = batch.records[batch.records.length - 1];
      if (last !== undefined) {
        await control.commit(String(BigInt(last.offset) + 1n));
        metrics.setLag(t.name, batch.topic, batch.partition, Number(BigInt(batch.highWatermark) - BigInt(last.offset) - 1n));
      }
    } catch (err) {
      if (err instanceof Abandoned) {
        logger.warn({ partition: batch.partition }, 'batch abandoned at shutdown; it will be replayed');
        return;
      }
      if (err instanceof Escalated) {
        // Policy `fail`: leave the batch uncommitted and stop the whole topology.
        fatal ??= err.cause as PipelineError;
        void consumer.stop();
        return;
      }
      throw err;
    } finally {
      clearInterval(heartbeat);
      metrics.inFlightAdd(t.name, -batch.records.length);
    }
  }

  let fatal: PipelineError | undefined;
  logger.info({ source: t.source.topic.name, group: t.source.group, log: log.kind }, 'topology starting');
  const done = consumer.run(handleBatch).then(
    async () => {
      await current.producer.close();
      if (fatal !== undefined) {
        logger.error({ code: fatal.code, err: fatal.message }, 'topology failed');
        throw fatal;
      }
      logger.info('topology stopped');
    },
    async (err: unknown) => {
      await current.producer.close().catch(() => undefined);
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
    pause: (reason = 'operator') => pause(reason),
    resume: (reason = 'operator') => resume(reason),
    get pausedFor() {
      return [...pauses];
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
