import { PipelineError } from '../../schemas/errors.ts';
import type { Clock, EventLog, LogProducer, ProduceRecord } from '../ports.ts';
import type { Logger } from '../logger.ts';
import { SINK_UNAVAILABLE, type PauseControl } from './pause-control.ts';
import { sleepOrAbandon } from './shutdown.ts';

/**
 * The producer a topology writes its outputs and dead letters with, replaced when it fails.
 *
 * `sendAll` retries while the broker is unavailable; only shutdown past the deadline gives up.
 * Meanwhile the topology stops fetching (pause reason `sink-unavailable`: no new work piles up
 * behind a sink that cannot take it) and fetches again once the outputs are written.
 *
 * A producer can stay broken after its broker came back (kafkajs' idempotent producer loses its
 * sequence state when the broker restarts, and then fails every send); a new one gets a new
 * producer id. Concurrent batches that saw the same producer fail share one replacement.
 */
export class ProducerSlot {
  private current: { producer: LogProducer; generation: number };
  private replacing: Promise<void> | undefined;

  private constructor(
    private readonly log: EventLog,
    first: LogProducer,
    private readonly deps: { clock: Clock; logger: Logger; pause: PauseControl; backoff: (attempt: number) => number; signal: AbortSignal },
  ) {
    this.current = { producer: first, generation: 0 };
  }

  /** Open the first producer. */
  static async open(log: EventLog, deps: ProducerSlot['deps']): Promise<ProducerSlot> {
    return new ProducerSlot(log, await log.producer(), deps);
  }

  /** Which producer is in use (0 for the first; +1 per replacement). */
  get generation(): number {
    return this.current.generation;
  }

  /** Append `records`, retrying (and replacing the producer) until they are acknowledged. */
  async sendAll(records: readonly ProduceRecord[]): Promise<void> {
    const { clock, logger, pause, backoff, signal } = this.deps;
    for (let attempt = 1; ; attempt++) {
      const { producer, generation } = this.current;
      try {
        await producer.send(records);
        pause.resume(SINK_UNAVAILABLE);
        return;
      } catch (err) {
        const error = PipelineError.from(err);
        pause.pause(SINK_UNAVAILABLE);
        logger.warn({ attempt, code: error.code, err: error.message }, 'produce failed, retrying');
        await this.replace(generation).catch((e: unknown) => logger.warn({ err: (e as Error).message }, 'could not open a new producer yet'));
        await sleepOrAbandon(clock.sleep.bind(clock), backoff(Math.min(attempt, 10)), signal, 'shutdown while producing');
      }
    }
  }

  /** Swap in a new producer after the one of generation `failed` failed (once per generation). */
  replace(failed: number): Promise<void> {
    if (failed !== this.current.generation) return Promise.resolve();
    this.replacing ??= (async () => {
      try {
        const fresh = await this.log.producer();
        const old = this.current.producer;
        this.current = { producer: fresh, generation: this.current.generation + 1 };
        await old.close().catch(() => undefined);
      } finally {
        this.replacing = undefined;
      }
    })();
    return this.replacing;
  }

  /** Close the producer in use. */
  close(): Promise<void> {
    return this.current.producer.close();
  }
}
