import { test } from 'node:test';
import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import { PiscinaPool, InlinePool } from '../../../runtime/workers/piscina-pool.ts';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';

const processor = new URL('./fixtures/sample-processor.ts', import.meta.url);

test('a processor module runs on worker threads, unchanged, and buffers are transferred not copied', async () => {
  const pool = new PiscinaPool({ size: 2 });
  try {
    const input = new Uint8Array([1, 2, 3, 4]);
    const result = await pool.run<{ op: string; bytes: Uint8Array }, { threadId: number; sum: number; doubled: Uint8Array }>(
      processor,
      { op: 'sum', bytes: input },
      [input.buffer],
    );
    assert.equal(result.sum, 10);
    assert.notEqual(result.threadId, threadId, 'ran on another thread');
    assert.equal(input.byteLength, 0, 'the input buffer was moved to the worker');
    assert.deepEqual([...result.doubled], [2, 4, 6, 8]);
  } finally {
    await pool.close();
  }
});

test('errors cross the thread boundary as PipelineError with code, retriable and context', async () => {
  const pool = new PiscinaPool({ size: 1 });
  try {
    await assert.rejects(pool.run(processor, { op: 'fail', bytes: new Uint8Array(0) }), (err: unknown) => {
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, ErrorCodes.IMAGE_DECODE_FAILED);
      assert.equal(err.retriable, false);
      assert.deepEqual(err.context, { reason: 'test' });
      return true;
    });
  } finally {
    await pool.close();
  }
});

test('the same module runs in-process through InlinePool', async () => {
  const result = await new InlinePool().run<{ op: string; bytes: Uint8Array }, { threadId: number; sum: number }>(processor, {
    op: 'sum',
    bytes: new Uint8Array([5, 5]),
  });
  assert.equal(result.sum, 10);
  assert.equal(result.threadId, threadId);
});

test('pool options are validated up front', () => {
  assert.throws(() => new PiscinaPool({ size: 0 }), /worker pool size must be an integer >= 1, got 0/);
});
