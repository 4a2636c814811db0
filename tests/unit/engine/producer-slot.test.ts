/**
 * The producer slot alone: retries while sends fail (pausing the topology for
 * 'sink-unavailable'), a new producer once per failed generation, closing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';
import { FakeClock } from '../../../runtime/clock.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { PauseControl, SINK_UNAVAILABLE } from '../../../runtime/engine/pause-control.ts';
import { ProducerSlot } from '../../../runtime/engine/producer-slot.ts';
import { Abandoned } from '../../../runtime/engine/shutdown.ts';
import type { EventLog, LogProducer, ProduceAck, ProduceRecord } from '../../../runtime/ports.ts';
import { flush } from './fixtures/engine-parts.ts';

/** A producer whose sends the test answers: `next` says how the next send goes. */
class FakeProducer implements LogProducer {
  readonly sent: (readonly ProduceRecord[])[] = [];
  closed = false;
  constructor(
    readonly id: number,
    private readonly answer: (records: readonly ProduceRecord[]) => Promise<void>,
  ) {}
  async send(records: readonly ProduceRecord[]): Promise<ProduceAck[]> {
    await this.answer(records);
    this.sent.push(records);
    return [];
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** A log that opens producers answering with `answerOf(id)` (id 0 is the first one opened). */
function logOf(answerOf: (id: number) => (records: readonly ProduceRecord[]) => Promise<void>): {
  log: EventLog;
  producers: FakeProducer[];
} {
  const producers: FakeProducer[] = [];
  const unused = (): never => {
    throw new Error('not used by the producer slot');
  };
  const log: EventLog = {
    kind: 'memory',
    ensureTopics: unused,
    consumer: unused,
    endOffsets: unused,
    committedOffsets: unused,
    close: unused,
    producer: () => {
      const p = new FakeProducer(producers.length, answerOf(producers.length));
      producers.push(p);
      return Promise.resolve(p);
    },
  };
  return { log, producers };
}

const down = (): Promise<never> =>
  Promise.reject(new PipelineError(ErrorCodes.BROKER_UNAVAILABLE, 'broker down', { retriable: true }));
const ok = (): Promise<void> => Promise.resolve();
const records: ProduceRecord[] = [{ topic: 'out', key: 'k', value: Buffer.from('v') }];

function parts() {
  const clock = new FakeClock();
  const pause = new PauseControl('slot', silentLogger, new Metrics());
  const consumer = {
    pauses: 0,
    resumes: 0,
    pause: () => void consumer.pauses++,
    resume: () => void consumer.resumes++,
  };
  pause.attach(consumer);
  const abort = new AbortController();
  const delays: number[] = [];
  const backoff = (attempt: number): number => {
    delays.push(attempt);
    return 100 * attempt;
  };
  return {
    clock,
    pause,
    consumer,
    abort,
    delays,
    deps: { clock, logger: silentLogger, pause, backoff, signal: abort.signal },
  };
}

test('a failing send is retried with backoff while the topology is paused for sink-unavailable; success resumes it', async () => {
  const { clock, pause, consumer, delays, deps } = parts();
  // The first two producers fail; each failure opens a new one; the third works.
  const { log, producers } = logOf((id) => (id < 2 ? down : ok));
  const slot = await ProducerSlot.open(log, deps);
  const sending = slot.sendAll(records);
  await flush();
  assert.deepEqual(pause.pausedFor, [SINK_UNAVAILABLE]);
  assert.equal(consumer.pauses, 1);
  await clock.advance(100);
  await flush();
  assert.deepEqual(pause.pausedFor, [SINK_UNAVAILABLE], 'still paused while the retry fails');
  await clock.advance(200);
  await sending;
  assert.deepEqual(pause.pausedFor, []);
  assert.equal(consumer.resumes, 1);
  assert.deepEqual(delays, [1, 2], 'backoff by attempt');
  assert.deepEqual(
    producers.map((p) => p.sent.length),
    [0, 0, 1],
    'sent once, by the producer that worked',
  );
  assert.equal(slot.generation, 2);
});

test('a producer that keeps failing is replaced once per generation, even when several sends race on it', async () => {
  const { clock, deps } = parts();
  // Sends of the first producer fail when the test says so, one by one.
  const pending: (() => void)[] = [];
  const { log, producers } = logOf((id) =>
    id === 0
      ? () =>
          new Promise<void>((_, reject) =>
            pending.push(() =>
              reject(new PipelineError(ErrorCodes.BROKER_UNAVAILABLE, 'stale producer', { retriable: true })),
            ),
          )
      : ok,
  );
  const slot = await ProducerSlot.open(log, deps);
  const sends = [slot.sendAll(records), slot.sendAll(records), slot.sendAll(records)];
  await flush();
  assert.equal(pending.length, 3);
  // The first failure replaces the producer; the other two fail later on the same (old) producer.
  pending[0]!();
  await flush();
  assert.equal(slot.generation, 1);
  pending[1]!();
  pending[2]!();
  await flush();
  assert.equal(slot.generation, 1, 'failures seen on generation 0 after it was replaced replace nothing');
  assert.equal(producers.length, 2);
  assert.equal(producers[0]!.closed, true, 'the replaced producer is closed');
  await clock.advance(1_000);
  await Promise.all(sends);
  assert.equal(producers[1]!.sent.length, 3);
});

test('concurrent failures while a replacement is being opened share it', async () => {
  const { clock, deps } = parts();
  const { log, producers } = logOf((id) => (id === 0 ? down : ok));
  const slot = await ProducerSlot.open(log, deps);
  await Promise.all([
    slot.sendAll(records),
    slot.sendAll(records),
    slot.sendAll(records),
    (async () => {
      await flush();
      await clock.advance(1_000);
    })(),
  ]);
  assert.equal(slot.generation, 1);
  assert.equal(producers.length, 2);
});

test('close closes the producer in use', async () => {
  const { clock, deps } = parts();
  const { log, producers } = logOf((id) => (id === 0 ? down : ok));
  const slot = await ProducerSlot.open(log, deps);
  const sending = slot.sendAll(records);
  await flush();
  await clock.advance(1_000);
  await sending;
  await slot.close();
  assert.deepEqual(
    producers.map((p) => p.closed),
    [true, true],
  );
  assert.equal(slot.generation, 1);
});

test('shutdown while retrying gives up with Abandoned', async () => {
  const { abort, deps } = parts();
  const { log } = logOf(() => down);
  const slot = await ProducerSlot.open(log, deps);
  const sending = slot.sendAll(records);
  await flush();
  abort.abort(new Error('deadline'));
  await assert.rejects(sending, Abandoned);
});
