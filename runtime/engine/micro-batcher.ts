import { Subject, bufferTime, filter, mergeMap, type Subscription } from 'rxjs';

/** A value waiting in a batch, with how to answer it. */
interface Pending<I, O> {
  readonly value: I;
  readonly resolve: (out: O) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Gathers values submitted one by one into batches — dispatched when `maxSize` are waiting or
 * `maxDelayMs` after the first — and runs `run` on each batch (RxJS `bufferTime` with a size cap,
 * then `mergeMap`). Each submitter gets its own output back; a batch that fails, or answers the
 * wrong number of outputs, fails each of its submitters.
 */
export class MicroBatcher<I, O> {
  private readonly input = new Subject<Pending<I, O>>();
  private readonly subscription: Subscription;

  constructor(
    options: { readonly maxSize: number; readonly maxDelayMs: number },
    run: (values: readonly I[]) => Promise<readonly O[]>,
    onBatch?: (size: number) => void,
  ) {
    this.subscription = this.input
      .pipe(
        bufferTime(options.maxDelayMs, null, options.maxSize),
        filter((batch) => batch.length > 0),
        mergeMap(async (batch) => {
          onBatch?.(batch.length);
          try {
            const out = await run(batch.map((p) => p.value));
            if (out.length !== batch.length) throw new Error(`a batch of ${batch.length} answered ${out.length} outputs`);
            batch.forEach((p, i) => p.resolve(out[i]!));
          } catch (err) {
            for (const p of batch) p.reject(err);
          }
        }),
      )
      .subscribe();
  }

  /** Add a value to the next batch; resolves with its output. */
  submit(value: I): Promise<O> {
    return new Promise<O>((resolve, reject) => this.input.next({ value, resolve, reject }));
  }

  /** Stop batching (values still waiting are dispatched first). */
  close(): void {
    this.input.complete();
    this.subscription.unsubscribe();
  }
}
