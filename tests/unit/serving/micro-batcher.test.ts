/**
 * The dynamic micro-batcher: a batch leaves at maxBatchSize or after maxQueueDelayMs, never more
 * than maxConcurrentBatches at once; a full queue refuses a request whole (QUEUE_FULL with a
 * Retry-After), an item past its deadline rejects with DEADLINE_EXCEEDED, batches are per key.
 * With fillWait, batches are sized by the work in the service (a lone item waits for nothing, a
 * burst of returning clients fills one batch, a free worker gets its share).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PipelineError } from '../../../schemas/errors.ts';
import { MicroBatcher, type MicroBatcherOptions } from '../../../services/serving/micro-batcher.ts';

interface Gate {
  readonly batches: { key: string; items: number[] }[];
  release(): void;
}

/** A batcher whose batches complete only when the test releases them (results: item * 10). */
function gated(options: Partial<MicroBatcherOptions>): { batcher: MicroBatcher<number, number>; gate: Gate } {
  const waiting: (() => void)[] = [];
  const gate: Gate = {
    batches: [],
    release: () => {
      for (const w of waiting.splice(0)) w();
    },
  };
  const batcher = new MicroBatcher<number, number>(
    { maxBatchSize: 4, maxQueueDelayMs: 60_000, queueLimit: 100, maxConcurrentBatches: 1, ...options },
    async (key, items) => {
      gate.batches.push({ key, items: [...items] });
      await new Promise<void>((r) => waiting.push(r));
      return items.map((i) => i * 10);
    },
  );
  return { batcher, gate };
}

describe('MicroBatcher', () => {
  it('dispatches a batch as soon as maxBatchSize items wait, without waiting for the delay', async () => {
    const { batcher, gate } = gated({ maxBatchSize: 3 });
    const results = [1, 2, 3].map((i) => batcher.submit('m', i));
    assert.deepEqual(gate.batches, [{ key: 'm', items: [1, 2, 3] }]);
    gate.release();
    const done = await Promise.all(results);
    assert.deepEqual(
      done.map((d) => [d.result, d.batchSize]),
      [
        [10, 3],
        [20, 3],
        [30, 3],
      ],
    );
  });

  it('dispatches a partial batch once the oldest item has waited maxQueueDelayMs', async () => {
    const { batcher, gate } = gated({ maxBatchSize: 100, maxQueueDelayMs: 30 });
    const a = batcher.submit('m', 1);
    const b = batcher.submit('m', 2);
    assert.equal(gate.batches.length, 0, 'nothing leaves before the delay');
    await sleep(80);
    assert.deepEqual(gate.batches, [{ key: 'm', items: [1, 2] }]);
    gate.release();
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.result, 10);
    assert.ok(rb.queueMs >= 0);
  });

  it('keeps items queued while every slot is busy, so the next batch grows', async () => {
    const { batcher, gate } = gated({ maxBatchSize: 4, maxQueueDelayMs: 0, maxConcurrentBatches: 1 });
    const first = batcher.submit('m', 1);
    await sleep(5);
    const rest = [2, 3, 4, 5, 6].map((i) => batcher.submit('m', i));
    await sleep(20);
    assert.deepEqual(
      gate.batches.map((b) => b.items),
      [[1]],
      'one batch at a time',
    );
    assert.equal(batcher.depth, 5);
    gate.release();
    await first;
    await sleep(5);
    assert.deepEqual(
      gate.batches.map((b) => b.items),
      [[1], [2, 3, 4, 5]],
    );
    gate.release();
    await sleep(5);
    gate.release();
    await Promise.all(rest);
  });

  it('stages full batches beyond maxConcurrentBatches (stagedBatches), never a partial one', async () => {
    const { batcher, gate } = gated({ maxBatchSize: 2, maxQueueDelayMs: 0, maxConcurrentBatches: 1, stagedBatches: 1 });
    const all = [1, 2, 3, 4, 5].map((i) => batcher.submit('m', i));
    // [1] left at once (a free worker, delay 0); [2, 3] is full: staged; [4, 5] is full but both slots are taken.
    assert.deepEqual(gate.batches, [
      { key: 'm', items: [1] },
      { key: 'm', items: [2, 3] },
    ]);
    assert.equal(batcher.depth, 2);
    gate.release();
    await sleep(5);
    assert.deepEqual(gate.batches.at(-1), { key: 'm', items: [4, 5] });
    const one = batcher.submit('m', 6);
    await sleep(5);
    assert.equal(gate.batches.length, 3, 'a partial batch is not staged while every worker is busy');
    gate.release();
    await sleep(5);
    assert.deepEqual(gate.batches.at(-1), { key: 'm', items: [6] });
    gate.release();
    await Promise.all([...all, one]);
  });

  it('batches per key: items of different models or options never share a batch', async () => {
    const { batcher, gate } = gated({ maxBatchSize: 2, maxConcurrentBatches: 2 });
    const all = [
      batcher.submit('v1', 1),
      batcher.submit('v2', 2),
      batcher.submit('v1', 3),
      batcher.submit('v2', 4),
    ];
    assert.deepEqual(gate.batches, [
      { key: 'v1', items: [1, 3] },
      { key: 'v2', items: [2, 4] },
    ]);
    gate.release();
    await Promise.all(all);
  });

  it('refuses a request whole with QUEUE_FULL and a Retry-After when its images do not fit', async () => {
    const { batcher, gate } = gated({ maxBatchSize: 2, maxQueueDelayMs: 0, queueLimit: 3 });
    const running = batcher.submitMany('m', [1, 2]); // dispatched: not counted as queued
    const queued = batcher.submitMany('m', [3, 4]);
    assert.equal(batcher.depth, 2);
    assert.throws(
      () => batcher.submitMany('m', [5, 6]),
      (err: unknown) => {
        assert.ok(err instanceof PipelineError);
        assert.equal(err.code, 'QUEUE_FULL');
        assert.equal(err.retriable, true);
        assert.ok(Number(err.context.retryAfterSeconds) >= 1);
        return true;
      },
    );
    assert.equal(batcher.depth, 2, 'nothing of the refused request was queued');
    const fits = batcher.submit('m', 7);
    gate.release();
    await sleep(5);
    gate.release();
    await sleep(5);
    gate.release();
    await Promise.all([...running, ...queued, fits]);
  });

  it('rejects an item still queued at its deadline with DEADLINE_EXCEEDED and takes it out of the queue', async () => {
    const { batcher, gate } = gated({ maxBatchSize: 1, maxConcurrentBatches: 1 });
    const running = batcher.submit('m', 1);
    const late = batcher.submit('m', 2, performance.now() + 20);
    await assert.rejects(late, (err: unknown) => {
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, 'DEADLINE_EXCEEDED');
      assert.equal(err.context.queued, true);
      return true;
    });
    assert.equal(batcher.depth, 0);
    gate.release();
    await running;
    assert.deepEqual(
      gate.batches.map((b) => b.items),
      [[1]],
      'the expired item never ran',
    );
  });

  it('rejects every item of a batch whose run throws, and goes on with the next batch', async () => {
    let calls = 0;
    const batcher = new MicroBatcher<number, number>(
      { maxBatchSize: 2, maxQueueDelayMs: 0, queueLimit: 10, maxConcurrentBatches: 1 },
      (_key, items) => {
        calls++;
        if (calls === 1)
          return Promise.reject(new PipelineError('WORKER_CRASHED', 'boom', { retriable: true }));
        return Promise.resolve(items.map((i) => i));
      },
    );
    const failed = batcher.submitMany('m', [1, 2]);
    await Promise.all(failed.map((p) => assert.rejects(p, /boom/)));
    assert.equal((await batcher.submit('m', 3)).result, 3);
  });

  describe('fillWait (batches sized by the work in the service)', () => {
    it('sends a lone item at once: nothing else in flight, nothing to wait for', async () => {
      const { batcher, gate } = gated({ maxBatchSize: 16, maxQueueDelayMs: 60_000, fillWait: 0.25 });
      const one = batcher.submit('m', 1);
      assert.deepEqual(gate.batches, [{ key: 'm', items: [1] }], 'no maxQueueDelayMs wait at c = 1');
      gate.release();
      assert.equal((await one).result, 10);
    });

    it('holds a free worker while the answers of the last batch come back, then sends them as one batch', async () => {
      const { batcher, gate } = gated({ maxBatchSize: 4, maxQueueDelayMs: 0, maxConcurrentBatches: 1, fillWait: 10 });
      const first = batcher.submitMany('m', [1, 2, 3, 4]);
      gate.release();
      await Promise.all(first);
      // A closed loop: the four clients send their next items one after another.
      const next: Promise<unknown>[] = [];
      for (const i of [5, 6, 7]) {
        next.push(batcher.submit('m', i));
        await sleep(10);
      }
      assert.equal(gate.batches.length, 1, 'the free worker waits for the rest of the burst');
      next.push(batcher.submit('m', 8));
      assert.deepEqual(gate.batches.at(-1), { key: 'm', items: [5, 6, 7, 8] });
      gate.release();
      await Promise.all(next);
    });

    it('bounds the hold: a batch whose clients do not come back leaves after fillWait times the batch time', async () => {
      const { batcher, gate } = gated({ maxBatchSize: 4, maxQueueDelayMs: 0, maxConcurrentBatches: 1, fillWait: 0.5 });
      const first = batcher.submitMany('m', [1, 2, 3, 4]);
      gate.release();
      await Promise.all(first);
      const lone = batcher.submit('m', 5);
      assert.equal(gate.batches.length, 1, 'three answers are still expected back');
      await sleep(300); // the moving batch time starts at 50 ms: the hold is about 20 ms
      assert.deepEqual(gate.batches.at(-1), { key: 'm', items: [5] });
      gate.release();
      await lone;
    });

    it('a batch takes its share of the work and leaves the rest to the next worker', async () => {
      const { batcher, gate } = gated({ maxBatchSize: 16, maxQueueDelayMs: 0, maxConcurrentBatches: 2, fillWait: 0.25 });
      const all = batcher.submitMany('m', [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.deepEqual(
        gate.batches.map((b) => b.items),
        [
          [1, 2, 3, 4],
          [5, 6, 7, 8],
        ],
      );
      gate.release();
      await Promise.all(all);
    });

    it('with fillWait 0 keeps Triton\'s rule: one batch of all that waits, as late as maxQueueDelayMs', async () => {
      const { batcher, gate } = gated({ maxBatchSize: 16, maxQueueDelayMs: 20, maxConcurrentBatches: 2, fillWait: 0 });
      const all = batcher.submitMany('m', [1, 2, 3]);
      assert.equal(gate.batches.length, 0);
      await sleep(60);
      assert.deepEqual(gate.batches, [{ key: 'm', items: [1, 2, 3] }]);
      gate.release();
      await Promise.all(all);
    });
  });

  it('validates its options up front', () => {
    assert.throws(
      () =>
        new MicroBatcher(
          { maxBatchSize: 0, maxQueueDelayMs: 1, queueLimit: 1, maxConcurrentBatches: 1 },
          () => Promise.resolve([]),
        ),
      /maxBatchSize must be an integer >= 1, got 0/,
    );
    assert.throws(
      () =>
        new MicroBatcher(
          { maxBatchSize: 1, maxQueueDelayMs: 1, queueLimit: 1, maxConcurrentBatches: 1, fillWait: -1 },
          () => Promise.resolve([]),
        ),
      /fillWait must be a number in 0\.\.10, got -1/,
    );
  });

  it('close() rejects waiting items with SHUTDOWN and refuses new ones', async () => {
    const { batcher, gate } = gated({ maxBatchSize: 1 });
    const running = batcher.submit('m', 1);
    const waiting = batcher.submit('m', 2);
    batcher.close();
    await assert.rejects(waiting, /shutting down/);
    assert.throws(() => batcher.submit('m', 3), /shutting down/);
    gate.release();
    assert.equal((await running).result, 10);
  });
});
