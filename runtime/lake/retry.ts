/**
 * Retry with exponential backoff and full jitter, for adapters that talk to servers (S3, MongoDB).
 *
 * Written here rather than taken from a library because it is a dozen lines and must decide
 * retriability with our own error mapping (a PipelineError's `retriable`), which generic retry
 * packages would need wrapping for anyway.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { PipelineError } from '../../schemas/errors.ts';

/** Options of {@link withRetry}. */
export interface RetryOptions {
  /** Total attempts, first one included (default 5). */
  readonly attempts?: number;
  /** Delay before the second attempt, in ms (default 100); doubles each time. */
  readonly baseDelayMs?: number;
  /** Cap of a single delay, in ms (default 2000). */
  readonly maxDelayMs?: number;
}

/**
 * Run `op`; when it throws, map the error with `classify` and retry while the mapped error is
 * retriable and attempts remain. The last mapped error is thrown, with the attempt count in its
 * context.
 */
export async function withRetry<T>(
  op: () => Promise<T>,
  classify: (err: unknown) => PipelineError,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 5);
  const base = options.baseDelayMs ?? 100;
  const cap = options.maxDelayMs ?? 2000;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await op();
    } catch (err) {
      const mapped = classify(err);
      if (!mapped.retriable || attempt >= attempts) {
        if (attempt > 1) mapped.context['attempts'] = attempt;
        throw mapped;
      }
      const delay = Math.random() * Math.min(cap, base * 2 ** (attempt - 1));
      await sleep(delay);
    }
  }
}
