import { Subject, catchError, concatMap, concatWith, defer, EMPTY, finalize, from, ignoreElements, mergeMap, tap, type Observable, type Subscription } from 'rxjs';
import type { BatchControl, ConsumedBatch, LogRecord, ProduceRecord } from '../ports.ts';

/** A batch handed to a partition's pipeline, with how to tell the consumer it is done. */
interface Job {
  readonly batch: ConsumedBatch;
  readonly control: BatchControl;
  readonly done: (err?: unknown) => void;
}

/** What a batch goes through: per record work, producing its outputs, committing. */
export interface BatchStages {
  /** Process one record (records of one key arrive in order, one at a time), pushing outputs to `out`. */
  readonly record: (record: LogRecord, key: string | null, out: ProduceRecord[]) => Promise<void>;
  /** Produce a batch's outputs and dead letters (retrying until acknowledged). */
  readonly produce: (out: readonly ProduceRecord[]) => Promise<void>;
  /** Commit the batch (after its outputs were acknowledged). */
  readonly commit: (batch: ConsumedBatch, control: BatchControl) => Promise<void>;
  /** Around each batch: started / finished (heartbeats, in-flight gauges). */
  readonly started?: (batch: ConsumedBatch, control: BatchControl) => void;
  readonly finished?: (batch: ConsumedBatch) => void;
}

/** Records of one batch grouped by key, in offset order; a null key is a group of its own. */
export function groupByKey(records: readonly LogRecord[]): { key: string | null; records: LogRecord[] }[] {
  // Keys are decoded once, as UTF-8; byte keys that decode alike share a group — still in order.
  const groups = new Map<string, { key: string | null; records: LogRecord[] }>();
  for (const r of records) {
    const key = r.key === null ? null : r.key.toString('utf8');
    const k = key ?? `\u0000${r.offset}`;
    const g = groups.get(k);
    if (g === undefined) groups.set(k, { key, records: [r] });
    else g.records.push(r);
  }
  return [...groups.values()];
}

/**
 * Each assigned partition runs as an RxJS pipeline: its batches flow through a lane
 * (`concatMap`: one batch of a partition at a time, in order), and each batch is an Observable
 * of its own — records grouped by key, keys processed concurrently up to `maxInFlight`
 * (`mergeMap`) and each key's records in order (`concatMap`), then the outputs produced, then the
 * offset committed. The consumer's `eachBatch` resolves when its batch left the lane, which is
 * the backpressure: the next fetch of a partition waits for its previous batch.
 */
export class PartitionLoop {
  private readonly lanes = new Map<string, { input: Subject<Job>; subscription: Subscription }>();

  constructor(
    private readonly stages: BatchStages,
    private readonly maxInFlight: number,
  ) {}

  /** The consumer's batch handler. */
  readonly handle = (batch: ConsumedBatch, control: BatchControl): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      this.lane(`${batch.topic}/${batch.partition}`).next({ batch, control, done: (err) => (err === undefined ? resolve() : reject(err instanceof Error ? err : new Error('batch failed', { cause: err }))) });
    });

  /** The Observable of one batch: completes once it is committed. */
  batch$(batch: ConsumedBatch, control: BatchControl): Observable<never> {
    const { stages } = this;
    return defer(() => {
      const out: ProduceRecord[] = [];
      stages.started?.(batch, control);
      return from(groupByKey(batch.records)).pipe(
        mergeMap((g) => (g.records.length === 1 ? stages.record(g.records[0]!, g.key, out) : from(g.records).pipe(concatMap((r) => stages.record(r, g.key, out)))), this.maxInFlight),
        ignoreElements(),
        concatWith(defer(() => (out.length > 0 ? from(stages.produce(out)).pipe(ignoreElements()) : EMPTY))),
        concatWith(defer(() => from(stages.commit(batch, control)).pipe(ignoreElements()))),
        finalize(() => stages.finished?.(batch)),
      );
    });
  }

  /** Close every lane (after the consumer stopped). */
  close(): void {
    for (const { input, subscription } of this.lanes.values()) {
      input.complete();
      subscription.unsubscribe();
    }
    this.lanes.clear();
  }

  private lane(key: string): Subject<Job> {
    let lane = this.lanes.get(key);
    if (lane === undefined) {
      const input = new Subject<Job>();
      const subscription = input
        .pipe(
          concatMap((job) =>
            this.batch$(job.batch, job.control).pipe(
              // A batch's outcome goes back to its consumer call; the lane goes on with the next batch.
              tap({ complete: () => job.done(), error: (err: unknown) => job.done(err ?? new Error('batch failed')) }),
              catchError(() => EMPTY),
            ),
          ),
        )
        .subscribe();
      lane = { input, subscription };
      this.lanes.set(key, lane);
    }
    return lane.input;
  }
}
