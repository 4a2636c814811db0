import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { deserializeError, ErrorCodes, PipelineError, type SerializedError } from '../../schemas/errors.ts';
import type { WorkerPool } from '../ports.ts';
import { cachedRunnableModule } from './runnable-module.ts';

/** Options of the worker pool. */
export interface PiscinaPoolOptions {
  /** Threads; defaults to the number of cores. */
  readonly size?: number;
  /** Tasks queued beyond the threads before `run` rejects; unbounded by default since the topology bounds in-flight work. */
  readonly maxQueue?: number;
  /** Heap limit of each worker in MB. */
  readonly maxOldGenerationSizeMb?: number;
}

type Outcome = { ok: true; result: unknown } | { ok: false; error: SerializedError };

// Plain JS, copied next to this module by the build, so it runs the same from source and from dist/.
const entry = new URL('./worker-entry.mjs', import.meta.url);

/**
 * WorkerPool on Piscina: processor modules (default export `async (task) => result`) run on
 * every core. The same module can be imported and called in-process, so a processor does not
 * know where it runs (BullMQ's "function or file" idea).
 */
export class PiscinaPool implements WorkerPool {
  private readonly piscina: Piscina;
  private readonly runnable = cachedRunnableModule();
  readonly size: number;

  constructor(options: PiscinaPoolOptions = {}) {
    const size = options.size ?? availableParallelism();
    if (!Number.isInteger(size) || size < 1) {
      throw new PipelineError(ErrorCodes.CONFIG_INVALID, `worker pool size must be an integer >= 1, got ${String(size)}`);
    }
    this.size = size;
    this.piscina = new Piscina({
      filename: entry.href,
      minThreads: size,
      maxThreads: size,
      ...(options.maxQueue === undefined ? {} : { maxQueue: options.maxQueue }),
      idleTimeout: 60_000,
      ...(options.maxOldGenerationSizeMb === undefined
        ? {}
        : { resourceLimits: { maxOldGenerationSizeMb: options.maxOldGenerationSizeMb } }),
    });
  }

  async run<TIn, TOut>(module: URL, task: TIn, transfer: readonly ArrayBuffer[] = []): Promise<TOut> {
    let outcome: Outcome;
    try {
      outcome = (await this.piscina.run(
        { module: this.runnable(module).href, task },
        transfer.length > 0 ? { transferList: [...transfer] } : {},
      )) as Outcome;
    } catch (err) {
      // The thread itself died (out of memory, native crash) or the queue is full: retriable.
      throw new PipelineError(ErrorCodes.WORKER_CRASHED, `worker failed: ${(err as Error).message}`, {
        retriable: true,
        cause: err,
        context: { module: module.href },
      });
    }
    if (!outcome.ok) throw deserializeError(outcome.error);
    return outcome.result as TOut;
  }

  /** Tasks waiting for a thread. */
  get queued(): number {
    return this.piscina.queueSize;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}

/** A WorkerPool that runs processor modules in this thread: for tests and one-off tools. */
export class InlinePool implements WorkerPool {
  readonly size = 1;
  private readonly runnable = cachedRunnableModule();
  async run<TIn, TOut>(module: URL, task: TIn): Promise<TOut> {
    const mod = (await import(this.runnable(module).href)) as { default: (t: TIn) => Promise<TOut> };
    return mod.default(task);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
