import type { PipelineError } from '../../schemas/errors.ts';

/** Thrown inside a batch when shutdown passed its deadline: the batch is left uncommitted (it will be replayed). */
export class Abandoned extends Error {}

/** Thrown when a record failed under policy `fail`: the topology stops without committing it. */
export class Escalated extends Error {
  constructor(
    message: string,
    readonly error: PipelineError,
  ) {
    super(message, { cause: error });
  }
}

/** Sleep on `sleep`, turning an abort (shutdown past its deadline) into {@link Abandoned}. */
export async function sleepOrAbandon(sleep: (ms: number, signal?: AbortSignal) => Promise<void>, ms: number, signal: AbortSignal, why: string): Promise<void> {
  try {
    await sleep(ms, signal);
  } catch {
    throw new Abandoned(why);
  }
}
