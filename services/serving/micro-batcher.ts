/**
 * Dynamic micro-batching as Triton's dynamic batcher does it: items wait in a bounded queue; a
 * batch leaves when `maxBatchSize` items of the same kind are waiting, or when the oldest has
 * waited `maxQueueDelayMs`, and only while fewer than `maxConcurrentBatches` batches run (one per
 * worker thread): while every worker is busy the queue keeps filling, so batches grow with load.
 *
 * With `fillWait` on (serving's default; 0 is Triton's rule), batches size themselves by the work
 * in the service, for closed loops — clients that send their next request when the last one
 * answers, as interactive apps and bulk callers do. A worker's share is an even split over the
 * workers of the items queued, running, and answered lately whose clients have not come back yet.
 * A batch that holds its share leaves at once (at c = 1 that is every request: it waits for
 * nothing); one below it waits while it is still filling (an item arrived within
 * `maxQueueDelayMs`, or answers are still expected back), for at most `fillWait` times the recent
 * batch run time after a worker became free; and a batch takes no more than its share, leaving
 * the rest to the next worker. Why: the answers of one batch come back as a burst of
 * requests spread over the time the main thread takes to parse them; leaving at a fixed delay cuts
 * that burst into uneven batches, which then stay uneven (on 2 workers: batches of 1 and of up to
 * 8 by turns at 8 connections, a mean of 10 of at most 16 at 32), and on a KV-cache decoder a
 * batch of 16 costs a half to a third of the CPU per image of a batch of 1.
 *
 * Items of one batch share a key (model version and decoding options: a batch runs on one model
 * with one set of options). Admission is all-or-nothing per request (`submitMany`): a request's
 * images are either all queued or all refused with QUEUE_FULL. Each item may carry a deadline: an
 * item still queued at its deadline leaves the queue and rejects with DEADLINE_EXCEEDED; an item
 * already running rejects at its deadline and its result is dropped when it comes.
 *
 * Written here rather than taken from a library: the batching libraries on npm (dataloader and
 * kin) batch by tick, not by size and delay with a bounded queue and a concurrency gate.
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { queueFull, ServingErrorCodes } from './serving-errors.ts';

/** Options of a {@link MicroBatcher}; validated by the constructor. */
export interface MicroBatcherOptions {
  /** Most items in one batch (1: batching off). */
  readonly maxBatchSize: number;
  /** Longest time the oldest waiting item waits for a batch to fill, in ms (0: dispatch at once). */
  readonly maxQueueDelayMs: number;
  /** Most items waiting (not counting running batches); beyond it requests get QUEUE_FULL. */
  readonly queueLimit: number;
  /** Most batches running at once (the worker threads). */
  readonly maxConcurrentBatches: number;
  /**
   * Full batches that may leave beyond `maxConcurrentBatches` (default 0): they wait in the worker
   * pool's queue, so a thread that finishes a batch starts the next one at once instead of idling
   * while its result goes back to the main thread and the next batch is sent. Only full batches
   * are staged (a partial one waits for a free thread and keeps growing meanwhile).
   */
  readonly stagedBatches?: number;
  /**
   * How long a partial batch that is still filling may hold a free worker, as a share of the
   * recent batch run time (0, the default here: a batch leaves when its oldest item has waited
   * `maxQueueDelayMs`, as in Triton; serving's config defaults to {@link DEFAULT_FILL_WAIT}).
   * With it on, a batch also takes no more than its share and leaves the rest to the next worker.
   */
  readonly fillWait?: number;
}

/**
 * Serving's default {@link MicroBatcherOptions.fillWait}: a worker idles at most a quarter of a
 * batch's run time for the rest of a burst, a bet that pays when the batch ends up twice as large
 * (on the serving model at load ≈ 21, 16 images cost 18 CPU ms each against 25 at 8).
 */
export const DEFAULT_FILL_WAIT = 0.25;

/** What an item's promise resolves to. */
export interface Batched<R> {
  readonly result: R;
  /** Time the item waited in the queue, in ms. */
  readonly queueMs: number;
  /** Items in the batch it ran in. */
  readonly batchSize: number;
}

/** Runs one batch; returns one result per item, in order (per-item failures are results, not throws). */
export type RunBatch<T, R> = (key: string, items: readonly T[]) => Promise<readonly R[]>;

interface Pending<T, R> {
  readonly key: string;
  readonly value: T;
  readonly enqueuedAt: number;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
  readonly resolve: (value: Batched<R>) => void;
  readonly reject: (err: unknown) => void;
}

/** Observations for metrics. */
export interface BatcherObserver {
  onBatch?(key: string, size: number): void;
}

function positiveInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `${name} must be an integer >= ${min}, got ${String(v)}`,
    );
  }
}

/** A dynamic micro-batcher. */
export class MicroBatcher<T, R> {
  private readonly queues = new Map<string, Pending<T, R>[]>();
  private queued = 0;
  private running = 0;
  /** Items in running (and staged) batches. */
  private runningItems = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Number.POSITIVE_INFINITY;
  private closed = false;
  /** Moving average of a batch's run time (ms), for Retry-After and the fill wait. */
  private batchMs = 50;
  /** When a worker slot last became free (a batch ended), `performance.now()` time. */
  private freedAt = performance.now();
  /**
   * Items answered lately whose clients have not sent another item yet: under a closed loop they
   * come back soon. Counted until `returningUntil` (the fill wait after the last answers), less
   * one per item that arrives.
   */
  private returning = 0;
  private returningUntil = Number.NEGATIVE_INFINITY;
  private readonly fillWait: number;

  constructor(
    readonly options: MicroBatcherOptions,
    private readonly run: RunBatch<T, R>,
    private readonly observer: BatcherObserver = {},
  ) {
    positiveInt('maxBatchSize', options.maxBatchSize, 1);
    positiveInt('maxQueueDelayMs', options.maxQueueDelayMs, 0);
    positiveInt('queueLimit', options.queueLimit, 1);
    positiveInt('maxConcurrentBatches', options.maxConcurrentBatches, 1);
    positiveInt('stagedBatches', options.stagedBatches ?? 0, 0);
    this.fillWait = options.fillWait ?? 0;
    if (!(this.fillWait >= 0 && this.fillWait <= 10))
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `fillWait must be a number in 0..10, got ${String(options.fillWait)}`,
      );
  }

  /** Items waiting for a batch. */
  get depth(): number {
    return this.queued;
  }

  /** Batches running now. */
  get active(): number {
    return this.running;
  }

  /** Queue one item. */
  submit(key: string, value: T, deadline?: number): Promise<Batched<R>> {
    return this.submitMany(key, [value], deadline)[0] as Promise<Batched<R>>;
  }

  /**
   * Queue every item of a request, or none: QUEUE_FULL (thrown, nothing queued) when they do not
   * all fit. `deadline` is a `performance.now()` time.
   */
  submitMany(key: string, values: readonly T[], deadline?: number): Promise<Batched<R>>[] {
    if (this.closed)
      throw new PipelineError(ErrorCodes.SHUTDOWN, 'the caption service is shutting down', {
        retriable: true,
      });
    if (this.queued + values.length > this.options.queueLimit) {
      throw queueFull(this.queued, this.options.queueLimit, this.retryAfterSeconds());
    }
    let queue = this.queues.get(key);
    if (queue === undefined) {
      queue = [];
      this.queues.set(key, queue);
    }
    const now = performance.now();
    this.returning = Math.max(0, this.returning - values.length);
    const promises = values.map((value) => {
      let resolve!: (v: Batched<R>) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<Batched<R>>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const item: Pending<T, R> = {
        key,
        value,
        enqueuedAt: now,
        settled: false,
        timer: undefined,
        resolve,
        reject,
      };
      if (deadline !== undefined) {
        item.timer = setTimeout(() => this.expire(item), Math.max(0, deadline - now));
      }
      queue.push(item);
      this.queued++;
      return promise;
    });
    this.pump();
    return promises;
  }

  /** Refuse new items and reject every waiting one with SHUTDOWN; running batches finish. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const queue of this.queues.values()) {
      for (const item of queue)
        this.settle(
          item,
          new PipelineError(ErrorCodes.SHUTDOWN, 'the caption service is shutting down', { retriable: true }),
        );
    }
    this.queues.clear();
    this.queued = 0;
  }

  /** Seconds after which a refused client may expect room: the time to drain the queue, at least 1. */
  retryAfterSeconds(): number {
    const batches = Math.ceil(this.queued / this.options.maxBatchSize / this.options.maxConcurrentBatches);
    return Math.max(1, Math.ceil((batches * this.batchMs) / 1000));
  }

  private expire(item: Pending<T, R>): void {
    if (item.settled) return;
    const queue = this.queues.get(item.key);
    const at = queue?.indexOf(item) ?? -1;
    const waited = performance.now() - item.enqueuedAt;
    if (at >= 0) {
      queue!.splice(at, 1);
      this.queued--;
      if (queue!.length === 0) this.queues.delete(item.key);
    }
    this.settle(
      item,
      new PipelineError(
        ServingErrorCodes.DEADLINE_EXCEEDED,
        `the caption was not ready within the deadline (${Math.round(waited)} ms, ${at >= 0 ? 'still queued' : 'running'})`,
        {
          retriable: true,
          context: { waitedMs: Math.round(waited), queued: at >= 0 },
        },
      ),
    );
  }

  /** Reject an item unless it is settled already. */
  private settle(item: Pending<T, R>, err: unknown): void {
    if (this.finish(item)) item.reject(err);
  }

  /** Mark an item settled (false when it already was: a deadline beat its batch, or the reverse). */
  private finish(item: Pending<T, R>): boolean {
    if (item.settled) return false;
    item.settled = true;
    if (item.timer !== undefined) clearTimeout(item.timer);
    return true;
  }

  /**
   * Dispatch every batch that is due while a slot is free, and full batches into the staged
   * slots; otherwise wake up when the oldest item is due.
   */
  private pump(): void {
    const now = performance.now();
    const slots = this.options.maxConcurrentBatches + (this.options.stagedBatches ?? 0);
    while (this.running < slots && this.queued > 0) {
      const next = this.nextDue(now, this.running >= this.options.maxConcurrentBatches);
      if (next === undefined) break;
      this.dispatch(next);
    }
    if (this.running >= this.options.maxConcurrentBatches || this.queued === 0) return;
    let due = Number.POSITIVE_INFINITY;
    for (const queue of this.queues.values()) due = Math.min(due, this.dueAt(queue, now));
    if (due >= this.timerDue && this.timer !== undefined) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerDue = Number.POSITIVE_INFINITY;
        this.pump();
      },
      Math.max(0, due - now),
    );
  }

  /** The key whose batch should leave now: full batches first, then the oldest overdue head (`fullOnly`: full batches only). */
  private nextDue(now: number, fullOnly = false): string | undefined {
    let best: string | undefined;
    let bestAt = Number.POSITIVE_INFINITY;
    for (const [key, queue] of this.queues) {
      const head = queue[0];
      if (head === undefined) continue;
      // A queue shorter than maxBatchSize can never hold a batch that size: full at the queue's limit.
      const full = queue.length >= Math.min(this.options.maxBatchSize, this.options.queueLimit);
      const overdue = !fullOnly && now >= this.dueAt(queue, now);
      if (!full && !overdue) continue;
      // A full batch counts as if due since its head arrived; among due queues the oldest head goes first.
      if (head.enqueuedAt < bestAt) {
        best = key;
        bestAt = head.enqueuedAt;
      }
    }
    return best;
  }

  /**
   * When a partial batch leaves: `maxQueueDelayMs` after its oldest item (Triton's rule), unless
   * it is smaller than a worker's even share of the work in the service and still filling — an
   * item arrived less than `maxQueueDelayMs` ago, or answers went out lately whose clients have
   * not come back yet. Then it waits for the end of that, but no longer than the fill wait after
   * the later of its oldest item's arrival and the last time a worker became free.
   */
  private dueAt(queue: readonly Pending<T, R>[], now: number): number {
    const head = queue[0];
    if (head === undefined) return Number.POSITIVE_INFINITY;
    const delay = this.options.maxQueueDelayMs;
    const byDelay = head.enqueuedAt + delay;
    if (this.fillWait === 0) return byDelay;
    const returning = this.returningAt(now);
    // A batch that holds its share leaves at once: waiting could only add to its latency. At c = 1
    // that is every request (its share is itself), so a lone request waits for nothing.
    if (queue.length >= this.share(now)) return head.enqueuedAt;
    const latest = queue[queue.length - 1]!.enqueuedAt;
    const filling = Math.max(latest + delay, returning > 0 ? this.returningUntil : Number.NEGATIVE_INFINITY);
    const holdUntil = Math.max(head.enqueuedAt, this.freedAt) + this.fillWait * this.batchMs;
    return Math.max(byDelay, Math.min(filling, holdUntil));
  }

  /** Items answered lately whose clients are expected back, at `now`. */
  private returningAt(now: number): number {
    return now < this.returningUntil ? this.returning : 0;
  }

  /**
   * A worker's even share of the work in the service (queued, running, and answered lately with
   * its clients expected back), at most `maxBatchSize`: a batch below it leaves another worker
   * more than its own. At c = 1 the share is the lone item itself, so nothing ever holds.
   */
  private share(now: number): number {
    const work = this.queued + this.runningItems + this.returningAt(now);
    return Math.min(Math.ceil(work / this.options.maxConcurrentBatches), this.options.maxBatchSize);
  }

  private dispatch(key: string): void {
    const queue = this.queues.get(key)!;
    // A batch takes its share and leaves the rest to the next worker: two batches side by side
    // beat one twice their size, and uneven batches would stay uneven under a closed loop.
    const take = this.fillWait > 0 ? Math.max(1, this.share(performance.now())) : this.options.maxBatchSize;
    const items = queue.splice(0, take);
    if (queue.length === 0) this.queues.delete(key);
    this.queued -= items.length;
    // A staged batch waits in the pool's queue first: its time is no measure of a batch's run.
    const staged = this.running >= this.options.maxConcurrentBatches;
    this.running++;
    this.runningItems += items.length;
    const started = performance.now();
    this.observer.onBatch?.(key, items.length);
    void this.run(
      key,
      items.map((i) => i.value),
    )
      .then(
        (results) => {
          items.forEach((item, i) => {
            if (i < results.length) {
              if (this.finish(item))
                item.resolve({
                  result: results[i] as R,
                  queueMs: started - item.enqueuedAt,
                  batchSize: items.length,
                });
            } else {
              this.settle(
                item,
                new PipelineError(
                  ErrorCodes.INTERNAL,
                  `a batch of ${items.length} returned ${results.length} results`,
                ),
              );
            }
          });
        },
        (err: unknown) => {
          for (const item of items) this.settle(item, err);
        },
      )
      .finally(() => {
        this.running--;
        this.runningItems -= items.length;
        const now = performance.now();
        if (!staged) this.batchMs = 0.8 * this.batchMs + 0.2 * (now - started);
        this.freedAt = now;
        // Their answers are on their way: under a closed loop as many items come back.
        this.returning = this.returningAt(now) + items.length;
        this.returningUntil = now + this.fillWait * this.batchMs;
        this.pump();
      });
  }
}
