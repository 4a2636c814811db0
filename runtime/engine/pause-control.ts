import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

/** The pause reason the runner uses while its outputs cannot be produced. */
export const SINK_UNAVAILABLE = 'sink-unavailable';
/** The pause reason while records wait for a dependency that is down (errors whose `isOutage`). */
export const DEPENDENCY_UNAVAILABLE = 'dependency-unavailable';

/** What can stop fetching: a consumer's pause and resume. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/**
 * Pausing by reasons: the consumer fetches only while no reason is given. Reasons add up (an
 * operator's pause, a sink that is down, a dependency outage) and each is withdrawn on its own,
 * so one cause clearing never resumes a topology another cause still holds.
 */
export class PauseControl {
  private readonly reasons = new Set<string>();
  private target: Pausable | undefined;

  constructor(
    private readonly topology: string,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** The consumer to pause; reasons given before it is attached apply at once. */
  attach(target: Pausable): void {
    this.target = target;
    if (this.reasons.size > 0) target.pause();
  }

  /** Why fetching is paused now; empty while fetching. */
  get pausedFor(): readonly string[] {
    return [...this.reasons];
  }

  /** Add a reason; the first one stops fetching. Idempotent per reason. */
  pause(reason: string): void {
    if (this.reasons.has(reason)) return;
    this.reasons.add(reason);
    if (this.reasons.size === 1) this.target?.pause();
    this.metrics.setPaused(this.topology, true);
    this.logger.warn({ reason, reasons: [...this.reasons] }, 'topology paused: not fetching');
  }

  /** Withdraw a reason; fetching restarts when none is left. */
  resume(reason: string): void {
    if (!this.reasons.delete(reason)) return;
    if (this.reasons.size === 0) {
      this.target?.resume();
      this.metrics.setPaused(this.topology, false);
    }
    this.logger.info({ reason, reasons: [...this.reasons] }, this.reasons.size === 0 ? 'topology resumed' : 'pause reason withdrawn, still paused');
  }
}
