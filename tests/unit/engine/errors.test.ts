import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { ErrorCodes, PipelineError, deserializeError, isRetriable, serializeError } from '../../../schemas/errors.ts';

test('a PipelineError survives structured clone (a thread boundary) with code, retriable, context and cause', async () => {
  const err = new PipelineError(ErrorCodes.STORAGE_UNAVAILABLE, 'bucket unreachable', {
    retriable: true,
    context: { bucket: 'lake', attempt: 2 },
    cause: new PipelineError(ErrorCodes.TIMEOUT, 'socket timeout'),
  });
  const { port1, port2 } = new MessageChannel();
  const received = new Promise<unknown>((r) => port2.once('message', r));
  port1.postMessage(serializeError(err));
  const rebuilt = deserializeError((await received) as ReturnType<typeof serializeError>);
  port1.close();
  port2.close();
  assert.ok(rebuilt instanceof PipelineError);
  assert.equal(rebuilt.code, ErrorCodes.STORAGE_UNAVAILABLE);
  assert.equal(rebuilt.retriable, true);
  assert.deepEqual(rebuilt.context, { bucket: 'lake', attempt: 2 });
  assert.ok(rebuilt.cause instanceof PipelineError);
  assert.equal(rebuilt.cause.code, ErrorCodes.TIMEOUT);
  assert.equal(rebuilt.stack, err.stack);
});

test('foreign errors become INTERNAL and keep a retriable flag if they carry one', () => {
  const kafkaLike = Object.assign(new Error('leader not available'), { retriable: true });
  assert.equal(isRetriable(kafkaLike), true);
  const wrapped = PipelineError.from(new TypeError('x is undefined'));
  assert.equal(wrapped.code, ErrorCodes.INTERNAL);
  assert.equal(wrapped.retriable, false);
  assert.equal(PipelineError.from('plain string').message, 'plain string');
});
