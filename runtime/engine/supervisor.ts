import { PipelineError } from '../../schemas/errors.ts';
import type { Clock, LogRecord, ProduceRecord, Serde } from '../ports.ts';
import type { Logger } from '../logger.ts';
import { deadLetterOf } from './dead-letter.ts';
import { DEPENDENCY_UNAVAILABLE, type PauseControl } from './pause-control.ts';
import { Abandoned, Escalated, sleepOrAbandon } from './shutdown.ts';
import type { StepMeters } from './step-meters.ts';
import type { ErrorOutcome, ErrorPolicy, OutagePolicy, RecordMeta, RetryPolicy, Topology } from './topology.ts';

/** A step's resolved supervision policy. */
export interface Policy {
  readonly retry: RetryPolicy;
  readonly otherwise: ErrorOutcome;
  readonly outages: OutagePolicy;
}

/** How a value failed a step for good. */
export interface Failure {
  readonly error: PipelineError;
  readonly attempts: number;
  readonly firstAt: number;
  readonly lastAt: number;
}

/** The outcome of a supervised call. */
export type Supervised<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: Failure };

/** Delay before attempt `attempt + 1` under `policy` (exponential, capped). */
export function backoff(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1));
}

/** What the supervisor needs of the running topology. */
export interface SupervisorDeps {
  readonly topology: Topology<never>;
  readonly serde: Serde;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly meters: StepMeters;
  readonly pause: PauseControl;
  readonly signal: AbortSignal;
}

/**
 * Supervision, as Kafka Streams' processing-exception handler answers continue / dead-letter /
 * fail: a call that throws a retriable error is retried with backoff up to the step's attempts;
 * a dependency outage (the store, catalog, broker or registry is down: not the record's fault)
 * is waited out without counting attempts while the topology stops fetching; what still fails
 * is dead-lettered with its original bytes, skipped, or escalated to stop the topology.
 */
export class Supervisor {
  private readonly policies = new Map<string, Policy>();
  /** Records waiting on an unavailable dependency; while there are any the topology does not fetch. */
  private waitingOnDependency = 0;

  constructor(private readonly deps: SupervisorDeps) {}

  /** Register a step's policy (resolved once, not per record). */
  define(step: string, policy: ErrorPolicy | undefined, overrides: Partial<Policy> = {}): void {
    const t = this.deps.topology.errors;
    this.policies.set(step, {
      retry: { ...t.retry, ...policy?.retry, ...overrides.retry },
      otherwise: overrides.otherwise ?? policy?.otherwise ?? t.otherwise,
      outages: overrides.outages ?? policy?.outages ?? t.outages,
    });
  }

  /** The resolved policy of a step. */
  policy(step: string): Policy {
    const p = this.policies.get(step);
    if (p === undefined) throw new Error(`step ${step} has no policy`);
    return p;
  }

  /** Run `invoke(attempt)` under the step's policy; the duration of a success is observed. */
  async run<T>(step: string, meta: RecordMeta, schema: string, model: () => string | undefined, invoke: (attempt: number) => Promise<T>): Promise<Supervised<T>> {
    const started = performance.now();
    try {
      const value = await invoke(1);
      this.deps.meters.duration(step, schema, model(), (performance.now() - started) / 1000);
      return { ok: true, value };
    } catch (err) {
      return this.afterFailure(step, meta, schema, model, invoke, err, started);
    }
  }

  /**
   * Carry on after the first attempt of `invoke` (begun at `started`, a `performance.now()`)
   * threw `thrown`: retry, wait out an outage or give up, as {@link run} does. Callers on a hot
   * path make the first attempt themselves and come here only when it failed.
   */
  async afterFailure<T>(step: string, meta: RecordMeta, schema: string, model: () => string | undefined, invoke: (attempt: number) => Promise<T>, thrown: unknown, started: number): Promise<Supervised<T>> {
    const { retry, outages } = this.policy(step);
    const { clock, logger, meters, signal } = this.deps;
    let firstAt = 0;
    let waiting = false;
    let err = thrown;
    try {
      for (let attempt = 1, counted = 1; ; attempt++, counted++) {
        if (attempt > 1) {
          try {
            const value = await invoke(attempt);
            meters.duration(step, schema, model(), (performance.now() - started) / 1000);
            return { ok: true, value };
          } catch (e) {
            err = e;
          }
        }
        if (err instanceof Abandoned || err instanceof Escalated) throw err;
        const error = PipelineError.from(err);
        const now = clock.now();
        if (attempt === 1) firstAt = now;
        if (outages === 'wait' && error.isOutage) {
          meters.count(step, 'retry', schema, model());
          if (!waiting) {
            waiting = true;
            if (this.waitingOnDependency++ === 0) this.deps.pause.pause(DEPENDENCY_UNAVAILABLE);
          }
          // Loud at first, then every tenth attempt: an outage can last a while.
          if (attempt === 1 || attempt % 10 === 0) logger.warn({ step, attempt, code: error.code, err: error.message, offset: meta.offset }, 'dependency unavailable, waiting');
          await sleepOrAbandon(clock.sleep.bind(clock), backoff(retry, Math.min(attempt, 30)), signal, 'shutdown while waiting for a dependency');
          counted = 0;
          continue;
        }
        if (error.retriable && counted < retry.attempts) {
          meters.count(step, 'retry', schema, model());
          logger.warn({ step, attempt, code: error.code, err: error.message, offset: meta.offset }, 'step failed, retrying');
          await sleepOrAbandon(clock.sleep.bind(clock), backoff(retry, counted), signal, 'shutdown during retry backoff');
          continue;
        }
        meters.count(step, String(error.code), schema, model());
        return { ok: false, failure: { error, attempts: attempt, firstAt, lastAt: now } };
      }
    } finally {
      if (waiting && --this.waitingOnDependency === 0) this.deps.pause.resume(DEPENDENCY_UNAVAILABLE);
    }
  }

  /**
   * Act on a record that failed a step for good, by the step's policy (or `outcome`): push its
   * dead letter (the original record byte for byte, with why and where) to `out`, skip it, or
   * escalate — the topology then stops without committing the record.
   */
  async fail(record: LogRecord, out: ProduceRecord[], step: string, f: Failure, outcome: ErrorOutcome = this.policy(step).otherwise): Promise<void> {
    const { topology: t, meters, logger, serde } = this.deps;
    if (outcome === 'fail') {
      logger.error({ step, code: f.error.code, err: f.error.message, offset: record.offset }, 'record failed, stopping topology');
      throw new Escalated(`${t.name}/${step}: ${f.error.message}`, f.error);
    }
    if (outcome === 'skip') {
      meters.count(step, 'skipped');
      return;
    }
    const letter = deadLetterOf(record, { topology: t.name, step }, f.error, f.attempts, f.firstAt, f.lastAt);
    out.push({
      topic: t.deadLetterTopic,
      key: record.key,
      value: await serde.encode(t.deadLetterTopic, letter),
      headers: { 'cf-error-code': letter.errorCode, 'cf-topology': t.name, 'cf-step': step },
    });
    meters.count(step, 'dead_letter');
    logger.info({ step, code: letter.errorCode, offset: record.offset, partition: record.partition }, 'record dead-lettered');
  }
}
