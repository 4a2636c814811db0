import { randomUUID } from 'node:crypto';
import { PipelineError } from '../../schemas/errors.ts';
import type { JobRun, JobTrigger } from '../../schemas/generated/types.ts';
import { Topics } from '../../schemas/topics.ts';
import type { Catalog } from '../../runtime/catalog/catalog.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { Metrics } from '../../runtime/metrics.ts';
import type { Clock, LogProducer, Serde } from '../../runtime/ports.ts';
import { deriveId } from '../../runtime/ids.ts';

/** What a running job gets. */
export interface JobContext {
  readonly runId: string;
  readonly attempt: number;
  readonly trigger: JobTrigger;
  readonly params: Readonly<Record<string, string>>;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly signal: AbortSignal;
}

/** A job: what the old stack's Airflow DAGs did (backfills, retraining, maintenance). */
export interface JobSpec {
  readonly name: string;
  readonly description?: string;
  /** Run every `everyMs` (first run one interval after start). */
  readonly everyMs?: number;
  /** Attempts for retriable failures (default 3), with exponential backoff from `initialDelayMs`. */
  readonly retry?: { readonly attempts?: number; readonly initialDelayMs?: number };
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
}

/**
 * Runs jobs on schedules and on events, one run of a job at a time (a trigger while it runs is
 * recorded as skipped, not queued without bound), with retries, and records every run in the
 * catalog and as job.run events (started, then succeeded / failed / skipped).
 */
export class Scheduler {
  private readonly jobs = new Map<string, JobSpec>();
  private readonly running = new Map<string, Promise<JobOutcome>>();
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly deps: SchedulerDeps) {}

  /** Add a job (names are unique). */
  register(job: JobSpec): this {
    if (this.jobs.has(job.name)) throw new TypeError(`job ${job.name} is registered twice`);
    if (job.everyMs !== undefined && !(job.everyMs > 0)) throw new TypeError(`job ${job.name}: everyMs must be > 0, got ${job.everyMs}`);
    this.jobs.set(job.name, job);
    return this;
  }

  /** Names of the registered jobs. */
  get names(): string[] {
    return [...this.jobs.keys()];
  }

  /** Start the schedules. */
  start(): void {
    for (const job of this.jobs.values()) {
      if (job.everyMs === undefined) continue;
      const every = job.everyMs;
      this.loops.push(
        (async () => {
          for (;;) {
            try {
              await this.deps.clock.sleep(every, this.abort.signal);
            } catch {
              return;
            }
            await this.trigger(job.name, { trigger: 'schedule', detail: `every ${every}ms` });
          }
        })(),
      );
    }
  }

  /** Stop the schedules and wait for running jobs (they see an aborted signal). */
  async stop(): Promise<void> {
    this.abort.abort(new Error('scheduler stopped'));
    await Promise.all(this.loops);
    await Promise.all([...this.running.values()].map((p) => p.catch(() => undefined)));
  }

  /** Run a job now, unless a run of it is in progress (then the trigger is recorded as skipped). */
  async trigger(name: string, options: { trigger?: JobTrigger; detail?: string; params?: Record<string, string> } = {}): Promise<JobOutcome> {
    const job = this.jobs.get(name);
    if (job === undefined) throw new TypeError(`unknown job ${name}; known: ${this.names.join(', ')}`);
    const trigger = options.trigger ?? 'manual';
    const params = options.params ?? {};
    const runId = randomUUID();
    if (this.running.has(name)) {
      const now = this.deps.clock.now();
      await this.emit(job, runId, { trigger, detail: options.detail ?? null, status: 'skipped', attempt: 0, startedAt: now, finishedAt: now, params, outputs: { reason: 'a run is in progress' }, error: null });
      return { runId, status: 'skipped', outputs: { reason: 'a run is in progress' } };
    }
    const run = this.execute(job, runId, trigger, options.detail ?? null, params);
    this.running.set(name, run);
    try {
      return await run;
    } finally {
      this.running.delete(name);
    }
  }

  private async execute(job: JobSpec, runId: string, trigger: JobTrigger, detail: string | null, params: Record<string, string>): Promise<JobOutcome> {
    const { clock, logger } = this.deps;
    const attempts = job.retry?.attempts ?? 3;
    const startedAt = clock.now();
    await this.deps.catalog.jobRuns.upsert({ id: runId, name: job.name, status: 'running', startedAt: new Date(startedAt).toISOString(), params });
    let lastError: PipelineError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      await this.emit(job, runId, { trigger, detail, status: 'started', attempt, startedAt, finishedAt: null, params, outputs: {}, error: null });
      const log = logger.child({ job: job.name, runId, attempt });
      try {
        const outputs = await job.run({ runId, attempt, trigger, params, logger: log, clock, signal: this.abort.signal });
        const finishedAt = clock.now();
        await this.deps.catalog.jobRuns.upsert({ id: runId, name: job.name, status: 'succeeded', finishedAt: new Date(finishedAt).toISOString(), result: outputs });
        await this.emit(job, runId, { trigger, detail, status: 'succeeded', attempt, startedAt, finishedAt, params, outputs, error: null });
        this.deps.metrics?.count({ topology: 'jobs', step: job.name, outcome: 'succeeded' });
        log.info({ outputs, ms: finishedAt - startedAt }, 'job succeeded');
        return { runId, status: 'succeeded', outputs };
      } catch (err) {
        lastError = PipelineError.from(err);
        log.warn({ code: lastError.code, err: lastError.message }, 'job attempt failed');
        if (!lastError.retriable || attempt === attempts || this.abort.signal.aborted) break;
        try {
          await clock.sleep((job.retry?.initialDelayMs ?? 1_000) * 2 ** (attempt - 1), this.abort.signal);
        } catch {
          break;
        }
      }
    }
    const error = lastError!;
    const finishedAt = clock.now();
    await this.deps.catalog.jobRuns.upsert({
      id: runId,
      name: job.name,
      status: 'failed',
      finishedAt: new Date(finishedAt).toISOString(),
      error: { code: String(error.code), message: error.message, retriable: error.retriable },
    });
    await this.emit(job, runId, { trigger, detail, status: 'failed', attempt: attempts, startedAt, finishedAt, params, outputs: {}, error: { code: String(error.code), message: error.message, retriable: error.retriable } });
    this.deps.metrics?.count({ topology: 'jobs', step: job.name, outcome: String(error.code) });
    return { runId, status: 'failed', outputs: {}, error };
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
    await this.deps.producer.send([{ topic: Topics.jobRun.name, key: job.name, value: await this.deps.serde.encode(Topics.jobRun.name, event) }]);
  }
}
