import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import { CronExpressionParser } from 'cron-parser';
import { pino } from 'pino';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { JobRun, JobTrigger } from '../../schemas/generated/types.ts';
import { Topics } from '../../schemas/topics.ts';
import { JOB_RUN_LOG_LINES, type Catalog, type JobLease, type JobRunRecord } from '../../runtime/catalog/catalog.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { Metrics } from '../../runtime/metrics.ts';
import type { Clock, EventLog, LogConsumer, LogProducer, Serde } from '../../runtime/ports.ts';
import { deriveId } from '../../runtime/ids.ts';

/** What a running job gets. */
export interface JobContext {
  readonly runId: string;
  readonly attempt: number;
  readonly trigger: JobTrigger;
  readonly params: Readonly<Record<string, string>>;
  /** Logs to the process log; lines at info and above are also kept with the run. */
  readonly logger: Logger;
  readonly clock: Clock;
  /** Aborted when the scheduler stops or the run's lease is lost: stop early. */
  readonly signal: AbortSignal;
}

/** A trigger fired by the scheduler: the key makes it run once across replicas. */
export interface FiredTrigger {
  /** Claimed once in the catalog: replicas firing the same key run it once. */
  readonly key: string;
  readonly detail: string;
  readonly params?: Record<string, string>;
}

/** An event trigger: a condition polled on an interval (e.g. "N new curated items"). */
export interface PollTrigger {
  readonly kind: 'poll';
  readonly description: string;
  readonly everyMs: number;
  /** The trigger to fire now, or null. Its key must be the same on every replica for the same condition. */
  check(): Promise<FiredTrigger | null>;
}

/** An event trigger: records of a topic (e.g. `model.registered`), consumed by the replicas as one group. */
export interface TopicTrigger {
  readonly kind: 'topic';
  readonly description: string;
  /** Logical topic name. */
  readonly topic: string;
  /** The trigger a record fires (keyed by its event id, say), or null to ignore it. */
  fire(value: unknown): FiredTrigger | null;
}

/** How a job is started besides manually. */
export type EventTriggerSpec = PollTrigger | TopicTrigger;

/** A job: what the old stack's Airflow DAGs did (backfills, retraining, maintenance). */
export interface JobSpec {
  readonly name: string;
  readonly description?: string;
  /** A cron expression (5 or 6 fields, UTC): one run per slot across every replica. */
  readonly cron?: string;
  /** Run on slots aligned to multiples of `everyMs` since the epoch (one run per slot across replicas). */
  readonly everyMs?: number;
  /** Event triggers. */
  readonly triggers?: readonly EventTriggerSpec[];
  /** Attempts for retriable failures (default 3), with exponential backoff from `initialDelayMs`. */
  readonly retry?: { readonly attempts?: number; readonly initialDelayMs?: number };
  /** Lease time-to-live (default the scheduler's); heartbeats renew it every third of it. */
  readonly leaseTtlMs?: number;
  /** Does the work; returns outputs recorded with the run (dataset ids, model versions…). */
  run(ctx: JobContext): Promise<Record<string, string>>;
}

/** How a run ended. */
export interface JobOutcome {
  readonly runId: string;
  readonly status: 'succeeded' | 'failed' | 'skipped';
  readonly outputs: Record<string, string>;
  readonly error?: PipelineError;
}

/** What the scheduler needs. */
export interface SchedulerDeps {
  readonly catalog: Catalog;
  readonly producer: LogProducer;
  readonly serde: Serde;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** The event log, for topic triggers (without it, topic triggers are not started). */
  readonly log?: EventLog;
  /** Physical name of a logical topic or group (the app's topic namespace). */
  readonly topicName?: (logical: string) => string;
  /** This replica's id in leases and run records (default host:pid:random). */
  readonly holder?: string;
  /** Default lease time-to-live (ms, default 60 s). */
  readonly leaseTtlMs?: number;
}

/** A job as `jobs list` shows it. */
export interface JobInfo {
  readonly name: string;
  readonly description: string;
  readonly schedule: string | null;
  readonly triggers: readonly string[];
  readonly lease: JobLease | null;
  readonly lastRun: JobRunRecord | null;
}

/** Options of {@link Scheduler.trigger}. */
export interface TriggerOptions {
  readonly trigger?: JobTrigger;
  readonly detail?: string;
  readonly params?: Record<string, string>;
  /** Claim this key first: of all replicas triggering the same key, one runs. */
  readonly key?: string;
}

const DEFAULT_LEASE_TTL_MS = 60_000;

/** The next cron slot after `now` (UTC). */
export function nextCronSlot(expression: string, now: number): number {
  return CronExpressionParser.parse(expression, { currentDate: new Date(now), tz: 'UTC' }).next().getTime();
}

/** Throws a TypeError naming the job when `expression` is not a valid cron expression. */
function checkCron(job: string, expression: string): void {
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC', strict: false });
  } catch (err) {
    throw new TypeError(`job ${job}: invalid cron expression ${JSON.stringify(expression)}: ${(err as Error).message}`);
  }
}

/** A logger writing to `parent`'s destination and handing each line at info or above to `keep`. */
function runLogger(parent: Logger, bindings: Record<string, unknown>, keep: (line: string) => void, clock: Clock): Logger {
  const capture = new Writable({
    write(chunk: Buffer, _enc, done) {
      try {
        const o = JSON.parse(chunk.toString('utf8')) as Record<string, unknown>;
        const { level, time, msg, pid: _pid, hostname: _h, name: _n, job: _j, runId: _r, ...rest } = o;
        const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
        keep(`${new Date(Number(time)).toISOString()} ${pino.levels.labels[Number(level)] ?? String(level)} ${typeof msg === 'string' ? msg : ''}${extra}`);
      } catch {
        keep(chunk.toString('utf8').trimEnd());
      }
      done();
    },
  });
  const parentStream = (parent as unknown as Record<symbol, NodeJS.WritableStream>)[pino.symbols.streamSym];
  const streams: pino.StreamEntry[] = [{ level: 'info', stream: capture }];
  if (parent.level !== 'silent' && parentStream !== undefined) streams.push({ level: parent.level as pino.Level, stream: parentStream });
  const level = parent.level === 'silent' || pino.levels.values[parent.level]! > pino.levels.values.info! ? 'info' : parent.level;
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: () => `,"time":${clock.now()}` }, pino.multistream(streams));
}

/**
 * Runs jobs on cron schedules, intervals, event triggers and manual triggers — replica-safe:
 * - a run holds the job's lease in the catalog (heartbeats renew it; a lease that cannot be
 *   renewed stops the run, counted as `outcome="JOB_LEASE_LOST"`), so no two replicas run a job
 *   at once; a trigger while the lease is held is recorded as skipped;
 * - a scheduled slot or an event is claimed once in the catalog before it runs, so N replicas
 *   firing the same cron slot run it once;
 * - a replica taking over an expired lease marks the abandoned run failed (JOB_LEASE_LOST).
 * Every run is recorded in the catalog (status, trigger, attempts, duration, log lines) and as
 * job.run events (started, then succeeded / failed / skipped), with retries for retriable errors.
 */
export class Scheduler {
  private readonly jobs = new Map<string, JobSpec>();
  private readonly running = new Map<string, Promise<JobOutcome>>();
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly consumers: LogConsumer[] = [];
  /** This replica's id in leases and run records. */
  readonly holder: string;

  constructor(private readonly deps: SchedulerDeps) {
    this.holder = deps.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  /** Add a job (names are unique); schedules and triggers are checked here. */
  register(job: JobSpec): this {
    if (this.jobs.has(job.name)) throw new TypeError(`job ${job.name} is registered twice`);
    if (job.everyMs !== undefined && !(job.everyMs > 0)) throw new TypeError(`job ${job.name}: everyMs must be > 0, got ${job.everyMs}`);
    if (job.cron !== undefined) checkCron(job.name, job.cron);
    for (const t of job.triggers ?? []) if (t.kind === 'poll' && !(t.everyMs > 0)) throw new TypeError(`job ${job.name}: poll trigger everyMs must be > 0, got ${t.everyMs}`);
    this.jobs.set(job.name, job);
    return this;
  }

  /** Names of the registered jobs. */
  get names(): string[] {
    return [...this.jobs.keys()];
  }

  /** The registered jobs with their current lease and last run. */
  async list(): Promise<JobInfo[]> {
    const out: JobInfo[] = [];
    for (const job of this.jobs.values()) {
      const [lease, runs] = await Promise.all([this.deps.catalog.jobLeases.current(job.name), this.deps.catalog.jobRuns.listByName(job.name, 1)]);
      out.push({
        name: job.name,
        description: job.description ?? '',
        schedule: job.cron !== undefined ? `cron ${job.cron} (UTC)` : job.everyMs !== undefined ? `every ${job.everyMs} ms` : null,
        triggers: (job.triggers ?? []).map((t) => t.description),
        lease: lease !== null && lease.releasedAt === null && lease.expiresAt > this.deps.clock.now() ? lease : null,
        lastRun: runs[0] ?? null,
      });
    }
    return out;
  }

  /** Runs of a job, newest first. */
  history(name: string, limit = 20): Promise<JobRunRecord[]> {
    this.job(name);
    return this.deps.catalog.jobRuns.listByName(name, limit);
  }

  /** Start the schedules and event triggers. */
  async start(): Promise<void> {
    for (const job of this.jobs.values()) {
      if (job.cron !== undefined) {
        const expr = job.cron;
        this.loop(() => nextCronSlot(expr, this.deps.clock.now()), (slot) => this.fireSlot(job, slot, `cron ${expr}`));
      }
      if (job.everyMs !== undefined) {
        const every = job.everyMs;
        this.loop(() => (Math.floor(this.deps.clock.now() / every) + 1) * every, (slot) => this.fireSlot(job, slot, `every ${every}ms`));
      }
      for (const t of job.triggers ?? []) {
        if (t.kind === 'poll') {
          const every = t.everyMs;
          this.loop(
            () => this.deps.clock.now() + every,
            async () => {
              const fired = await t.check();
              if (fired !== null) await this.trigger(job.name, { trigger: 'event', key: fired.key, detail: fired.detail, ...(fired.params === undefined ? {} : { params: fired.params }) });
            },
          );
        } else if (this.deps.log !== undefined) {
          await this.consume(job, t, this.deps.log);
        }
      }
    }
  }

  /** Stop the schedules and triggers and wait for running jobs (they see an aborted signal). */
  async stop(): Promise<void> {
    this.abort.abort(new PipelineError(ErrorCodes.SHUTDOWN, 'scheduler stopped'));
    await Promise.all(this.consumers.map((c) => c.stop().catch(() => undefined)));
    await Promise.all(this.loops);
    await Promise.all([...this.running.values()].map((p) => p.catch(() => undefined)));
  }

  /**
   * Run a job now. Skipped (recorded as such) when this replica runs it already or another holds
   * its lease; with `key`, skipped silently when the key was claimed before (by any replica).
   */
  async trigger(name: string, options: TriggerOptions = {}): Promise<JobOutcome> {
    const job = this.job(name);
    const trigger = options.trigger ?? 'manual';
    const params = options.params ?? {};
    const detail = options.detail ?? null;
    const { clock, catalog } = this.deps;
    const runId = options.key === undefined ? randomUUID() : deriveId('job', name, options.key);
    if (options.key !== undefined) {
      const claimed = await catalog.jobLeases.claim({ job: name, key: options.key, holder: this.holder, runId, claimedAt: clock.now() });
      if (!claimed) return { runId, status: 'skipped', outputs: { reason: `trigger ${options.key} was claimed before` } };
    }
    if (this.running.has(name)) return this.skip(job, runId, trigger, detail, params, 'a run is in progress on this replica');
    const ttl = job.leaseTtlMs ?? this.deps.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    const got = await catalog.jobLeases.acquire(name, this.holder, runId, ttl, clock.now());
    if (!got.acquired) {
      const by = got.heldBy === null ? 'another replica' : `${got.heldBy.holder} (run ${got.heldBy.runId})`;
      return this.skip(job, runId, trigger, detail, params, `the lease is held by ${by}`);
    }
    const prev = got.previous;
    if (prev !== null && prev.releasedAt === null) await this.abandoned(prev);
    const run = this.execute(job, got.lease, ttl, trigger, detail, params);
    this.running.set(name, run);
    try {
      return await run;
    } finally {
      this.running.delete(name);
    }
  }

  private job(name: string): JobSpec {
    const job = this.jobs.get(name);
    if (job === undefined) throw new TypeError(`unknown job ${name}; known: ${this.names.join(', ')}`);
    return job;
  }

  /** Repeat: sleep until `next()`, then `fire(slot)`, until stopped. */
  private loop(next: () => number, fire: (slot: number) => Promise<unknown>): void {
    this.loops.push(
      (async () => {
        for (;;) {
          const slot = next();
          try {
            await this.deps.clock.sleep(Math.max(0, slot - this.deps.clock.now()), this.abort.signal);
          } catch {
            return;
          }
          try {
            await fire(slot);
          } catch (err) {
            this.deps.logger.warn({ err: (err as Error).message }, 'job trigger failed');
          }
        }
      })(),
    );
  }

  private fireSlot(job: JobSpec, slot: number, detail: string): Promise<JobOutcome> {
    const at = new Date(slot).toISOString();
    return this.trigger(job.name, { trigger: 'schedule', key: `slot:${at}`, detail: `${detail} @ ${at}` });
  }

  private async consume(job: JobSpec, t: TopicTrigger, log: EventLog): Promise<void> {
    const name = this.deps.topicName ?? ((s: string) => s);
    const consumer = await log.consumer({ group: name(`captionflow-jobs-${job.name}`), topics: [name(t.topic)], fromBeginning: false, maxBatchRecords: 100 });
    this.consumers.push(consumer);
    this.loops.push(
      consumer
        .run(async (batch, control) => {
          for (const record of batch.records) {
            if (!control.isRunning() || record.value === null) continue;
            const fired = t.fire((await this.deps.serde.decode(t.topic, record.value)).value);
            if (fired !== null) await this.trigger(job.name, { trigger: 'event', key: fired.key, detail: fired.detail, ...(fired.params === undefined ? {} : { params: fired.params }) });
            await control.commit((BigInt(record.offset) + 1n).toString());
          }
        })
        .catch((err: unknown) => this.deps.logger.warn({ job: job.name, err: (err as Error).message }, 'job trigger consumer stopped')),
    );
  }

  /** A taken-over lease whose holder never let go: its run is marked failed. */
  private async abandoned(prev: JobLease): Promise<void> {
    this.deps.metrics?.count({ topology: 'jobs', step: prev.job, outcome: 'lease_expired' });
    const run = await this.deps.catalog.jobRuns.get(prev.runId);
    if (run === null || run.status !== 'running') return;
    const message = `the lease of ${prev.holder} expired at ${new Date(prev.expiresAt).toISOString()}; taken over by ${this.holder}`;
    await this.deps.catalog.jobRuns.upsert({
      id: prev.runId,
      name: prev.job,
      status: 'failed',
      finishedAt: new Date(this.deps.clock.now()).toISOString(),
      error: { code: ErrorCodes.JOB_LEASE_LOST, message, retriable: true },
      log: [...run.log, `${new Date(this.deps.clock.now()).toISOString()} warn ${message}`].slice(-JOB_RUN_LOG_LINES),
    });
  }

  private async skip(job: JobSpec, runId: string, trigger: JobTrigger, detail: string | null, params: Record<string, string>, reason: string): Promise<JobOutcome> {
    const now = this.deps.clock.now();
    this.deps.logger.info({ job: job.name, trigger, reason }, 'job trigger skipped');
    this.deps.metrics?.count({ topology: 'jobs', step: job.name, outcome: 'skipped' });
    await this.emit(job, runId, { trigger, detail, status: 'skipped', attempt: 0, startedAt: now, finishedAt: now, params, outputs: { reason }, error: null });
    return { runId, status: 'skipped', outputs: { reason } };
  }

  private async execute(job: JobSpec, held: JobLease, ttl: number, trigger: JobTrigger, detail: string | null, params: Record<string, string>): Promise<JobOutcome> {
    const { clock, catalog, metrics } = this.deps;
    const runId = held.runId;
    const attempts = job.retry?.attempts ?? 3;
    const startedAt = clock.now();
    const lines: string[] = [];
    const keep = (line: string): void => {
      lines.push(line);
      if (lines.length > JOB_RUN_LOG_LINES) lines.splice(0, lines.length - JOB_RUN_LOG_LINES);
    };
    const log = runLogger(this.deps.logger, { job: job.name, runId }, keep, clock);
    const runAbort = new AbortController();
    const stopRun = (): void => runAbort.abort(this.abort.signal.reason);
    this.abort.signal.addEventListener('abort', stopRun, { once: true });

    // Heartbeats: renew every third of the TTL; a lease that cannot be renewed stops the run.
    let lease = held;
    let lost = false;
    const beats = (async () => {
      while (!runAbort.signal.aborted) {
        try {
          await clock.sleep(Math.max(1, Math.floor(ttl / 3)), runAbort.signal);
        } catch {
          return;
        }
        const renewed = await catalog.jobLeases.renew(lease, ttl, clock.now()).catch((err: unknown) => {
          log.warn({ err: (err as Error).message }, 'lease heartbeat failed');
          return lease.expiresAt > clock.now() ? lease : null;
        });
        if (renewed === null) {
          lost = true;
          log.error({ epoch: lease.epoch }, 'lease lost: stopping the run');
          metrics?.count({ topology: 'jobs', step: job.name, outcome: ErrorCodes.JOB_LEASE_LOST });
          runAbort.abort(new PipelineError(ErrorCodes.JOB_LEASE_LOST, `job ${job.name} lost its lease (epoch ${lease.epoch})`, { retriable: true }));
          return;
        }
        lease = renewed;
      }
    })();

    const record = (status: 'running' | 'succeeded' | 'failed', attempt: number, extra: { result?: Record<string, string>; error?: { code: string; message: string; retriable: boolean }; finishedAt?: number } = {}) =>
      catalog.jobRuns.upsert({
        id: runId,
        name: job.name,
        status,
        startedAt: new Date(startedAt).toISOString(),
        params,
        trigger,
        triggerDetail: detail,
        holder: this.holder,
        attempts: attempt,
        log: [...lines],
        ...(extra.finishedAt === undefined ? {} : { finishedAt: new Date(extra.finishedAt).toISOString() }),
        ...(extra.result === undefined ? {} : { result: extra.result }),
        ...(extra.error === undefined ? {} : { error: extra.error }),
      });

    let lastError: PipelineError | undefined;
    let attempt = 0;
    try {
      log.info({ trigger, detail, holder: this.holder, epoch: held.epoch }, 'job started');
      await record('running', 0);
      for (attempt = 1; attempt <= attempts; attempt++) {
        await this.emit(job, runId, { trigger, detail, status: 'started', attempt, startedAt, finishedAt: null, params, outputs: {}, error: null });
        await record('running', attempt);
        try {
          const outputs = await job.run({ runId, attempt, trigger, params, logger: log.child({ attempt }), clock, signal: runAbort.signal });
          if (lost) throw runAbort.signal.reason;
          const finishedAt = clock.now();
          log.info({ outputs, ms: finishedAt - startedAt }, 'job succeeded');
          await record('succeeded', attempt, { result: outputs, finishedAt });
          await this.emit(job, runId, { trigger, detail, status: 'succeeded', attempt, startedAt, finishedAt, params, outputs, error: null });
          metrics?.count({ topology: 'jobs', step: job.name, outcome: 'succeeded' });
          metrics?.observe({ topology: 'jobs', step: job.name, outcome: 'succeeded' }, (finishedAt - startedAt) / 1000);
          return { runId, status: 'succeeded', outputs };
        } catch (err) {
          lastError = lost ? PipelineError.from(runAbort.signal.reason) : PipelineError.from(err);
          log.warn({ code: lastError.code, err: lastError.message }, 'job attempt failed');
          if (!lastError.retriable || lost || attempt === attempts || runAbort.signal.aborted) break;
          try {
            await clock.sleep((job.retry?.initialDelayMs ?? 1_000) * 2 ** (attempt - 1), runAbort.signal);
          } catch {
            break;
          }
        }
      }
      const error = lastError!;
      const finishedAt = clock.now();
      const plain = { code: String(error.code), message: error.message, retriable: error.retriable };
      await record('failed', Math.min(attempt, attempts), { error: plain, finishedAt });
      await this.emit(job, runId, { trigger, detail, status: 'failed', attempt: Math.min(attempt, attempts), startedAt, finishedAt, params, outputs: {}, error: plain });
      if (!lost) metrics?.count({ topology: 'jobs', step: job.name, outcome: String(error.code) });
      metrics?.observe({ topology: 'jobs', step: job.name, outcome: 'failed' }, (finishedAt - startedAt) / 1000);
      return { runId, status: 'failed', outputs: {}, error };
    } finally {
      this.abort.signal.removeEventListener('abort', stopRun);
      if (!runAbort.signal.aborted) runAbort.abort(new Error('run finished'));
      await beats;
      if (!lost) await catalog.jobLeases.release(lease, clock.now()).catch((err: unknown) => this.deps.logger.warn({ job: job.name, err: (err as Error).message }, 'lease release failed'));
    }
  }

  private async emit(
    job: JobSpec,
    runId: string,
    r: Omit<JobRun, 'eventId' | 'jobName' | 'runId' | 'scheduledAt' | 'durationMs' | 'triggerDetail'> & { detail: string | null },
  ): Promise<void> {
    const event: JobRun = {
      eventId: deriveId('job.run', runId, r.status, r.attempt),
      jobName: job.name,
      runId,
      trigger: r.trigger,
      triggerDetail: r.detail,
      status: r.status,
      attempt: r.attempt,
      scheduledAt: null,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      durationMs: r.finishedAt === null ? null : r.finishedAt - r.startedAt,
      params: r.params,
      outputs: r.outputs,
      error: r.error,
    };
    await this.deps.producer.send([{ topic: (this.deps.topicName ?? ((s: string) => s))(Topics.jobRun.name), key: job.name, value: await this.deps.serde.encode(Topics.jobRun.name, event) }]);
  }
}
