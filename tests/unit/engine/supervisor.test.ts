/**
 * The supervisor alone, on a fake clock: retries with backoff, outage waits that pause fetching,
 * and what happens to a record that failed for good (dead letter, skip, escalate).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';
import { FakeClock } from '../../../runtime/clock.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { topology } from '../../../runtime/engine/builder.ts';
import type { DeadLetter } from '../../../runtime/engine/dead-letter.ts';
import { JsonSerde } from '../../../runtime/engine/json-serde.ts';
import { DEPENDENCY_UNAVAILABLE, PauseControl } from '../../../runtime/engine/pause-control.ts';
import { Abandoned, Escalated } from '../../../runtime/engine/shutdown.ts';
import { StepMeters } from '../../../runtime/engine/step-meters.ts';
import { backoff, Supervisor } from '../../../runtime/engine/supervisor.ts';
import { topic, type ErrorPolicy, type RecordMeta } from '../../../runtime/engine/topology.ts';
import type { LogRecord, ProduceRecord } from '../../../runtime/ports.ts';
import { flush, record } from './fixtures/engine-parts.ts';

const RETRY = { attempts: 4, initialDelayMs: 100, maxDelayMs: 250, factor: 2 };
const json = new JsonSerde();

function setUp(step: ErrorPolicy = {}) {
  const t = topology<never>('sup', { errors: { retry: RETRY }, deadLetterTopic: 'sup-dlq' }, (b) =>
    b
      .stream(topic('in'), { group: 'sup' })
      .map('step', (v) => v)
      .to(topic('out'), { key: () => null }),
  );
  const clock = new FakeClock();
  const metrics = new Metrics();
  const pause = new PauseControl(t.name, silentLogger, metrics);
  const consumer = {
    pauses: 0,
    resumes: 0,
    pause: () => void consumer.pauses++,
    resume: () => void consumer.resumes++,
  };
  pause.attach(consumer);
  const abort = new AbortController();
  const meters = new StepMeters(t.name, ['decode', 'step'], metrics);
  const supervisor = new Supervisor({
    topology: t,
    serde: json,
    clock,
    logger: silentLogger,
    meters,
    pause,
    signal: abort.signal,
  });
  supervisor.define('step', step);
  const count = (outcome: string): Promise<number> =>
    metrics.recordCount({ topology: 'sup', step: 'step', outcome });
  return { supervisor, clock, pause, consumer, abort, count };
}

function metaOf(r: LogRecord): RecordMeta {
  return {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    key: r.key?.toString() ?? null,
    headers: r.headers,
    timestamp: r.timestamp,
    schemaId: 0,
  };
}

const meta = metaOf(record(7, 'k'));
const retriable = (): PipelineError =>
  new PipelineError('INFERENCE_TIMEOUT', 'slow model', { retriable: true });
const outage = (): PipelineError =>
  new PipelineError(ErrorCodes.STORAGE_UNAVAILABLE, 'object store unreachable', { retriable: true });

test('backoff is exponential from initialDelayMs, capped at maxDelayMs', () => {
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => backoff(RETRY, n)),
    [100, 200, 250, 250],
  );
});

test('a retriable error is retried up to the attempts, on the backoff schedule, then fails with its attempts and times', async () => {
  const { supervisor, clock, count } = setUp();
  const at: number[] = [];
  const start = clock.now();
  const running = supervisor.run(
    'step',
    meta,
    '0',
    () => undefined,
    () => {
      at.push(clock.now() - start);
      return Promise.reject(retriable());
    },
  );
  await flush();
  assert.deepEqual(at, [0], 'no retry before the backoff elapsed');
  await clock.advance(99);
  assert.deepEqual(at, [0]);
  await clock.advance(10_000);
  const res = await running;
  assert.deepEqual(at, [0, 100, 300, 550], 'attempts at 0, +100, +200, +250 (capped)');
  assert.equal(res.ok, false);
  if (res.ok) return;
  assert.equal(res.failure.error.code, 'INFERENCE_TIMEOUT');
  assert.equal(res.failure.attempts, RETRY.attempts);
  assert.equal(res.failure.firstAt, start);
  assert.equal(res.failure.lastAt, start + 550);
  assert.equal(await count('retry'), RETRY.attempts - 1);
  assert.equal(await count('INFERENCE_TIMEOUT'), 1);
});

test('a retriable error that clears in time succeeds with the value; the attempt number is passed on', async () => {
  const { supervisor, clock } = setUp();
  const attempts: number[] = [];
  const running = supervisor.run(
    'step',
    meta,
    '0',
    () => undefined,
    (attempt) => {
      attempts.push(attempt);
      return attempt < 3 ? Promise.reject(retriable()) : Promise.resolve('done');
    },
  );
  await flush();
  await clock.advance(10_000);
  assert.deepEqual(await running, { ok: true, value: 'done' });
  assert.deepEqual(attempts, [1, 2, 3]);
});

test('a step policy overrides the topology’s attempts', async () => {
  const { supervisor, clock } = setUp({ retry: { attempts: 2 } });
  let calls = 0;
  const running = supervisor.run(
    'step',
    meta,
    '0',
    () => undefined,
    () => {
      calls++;
      return Promise.reject(retriable());
    },
  );
  await flush();
  await clock.advance(10_000);
  assert.equal((await running).ok, false);
  assert.equal(calls, 2);
});

test('a non-retriable error fails at once, with no backoff', async () => {
  const { supervisor, clock } = setUp();
  let calls = 0;
  const res = await supervisor.run(
    'step',
    meta,
    '0',
    () => undefined,
    () => {
      calls++;
      return Promise.reject(new PipelineError('BAD_VALUE', 'negative amount'));
    },
  );
  assert.equal(calls, 1);
  assert.equal(clock.pending, 0);
  assert.equal(res.ok, false);
  if (!res.ok) assert.equal(res.failure.attempts, 1);
  // Anything that is not a PipelineError is a non-retriable INTERNAL.
  const odd = await supervisor.run(
    'step',
    meta,
    '0',
    () => undefined,
    () => Promise.reject(new TypeError('x is undefined')),
  );
  assert.equal(odd.ok ? undefined : odd.failure.error.code, ErrorCodes.INTERNAL);
});

test('outages are waited out past the attempts, paused for "dependency-unavailable" until the last waiting record is through', async () => {
  const { supervisor, clock, pause, consumer, count } = setUp();
  const down = { a: true, b: true };
  const calls = { a: 0, b: 0 };
  const call = (id: 'a' | 'b') => () => {
    calls[id]++;
    return down[id] ? Promise.reject(outage()) : Promise.resolve(id);
  };
  const a = supervisor.run('step', meta, '0', () => undefined, call('a'));
  const b = supervisor.run('step', meta, '0', () => undefined, call('b'));
  await flush();
  assert.deepEqual(pause.pausedFor, [DEPENDENCY_UNAVAILABLE]);
  assert.equal(consumer.pauses, 1, 'paused once for two waiting records');

  await clock.advance(5_000);
  assert.ok(
    calls.a > RETRY.attempts * 3 && calls.b > RETRY.attempts * 3,
    `still trying past the attempts (${calls.a}, ${calls.b})`,
  );
  assert.ok((await count('retry')) >= calls.a + calls.b - 2);

  down.a = false;
  await clock.advance(1_000);
  assert.deepEqual(await a, { ok: true, value: 'a' });
  assert.deepEqual(pause.pausedFor, [DEPENDENCY_UNAVAILABLE], 'b still waits: still paused');
  assert.equal(consumer.resumes, 0);

  down.b = false;
  await clock.advance(1_000);
  assert.deepEqual(await b, { ok: true, value: 'b' });
  assert.deepEqual(pause.pausedFor, []);
  assert.equal(consumer.resumes, 1);
  assert.equal(await count(ErrorCodes.STORAGE_UNAVAILABLE), 0, 'never counted as a failure');
});

test('with outages "retry" an outage is an ordinary retriable error: attempts, then failure, no pause', async () => {
  const { supervisor, clock, pause } = setUp({ outages: 'retry' });
  let calls = 0;
  const running = supervisor.run(
    'step',
    meta,
    '0',
    () => undefined,
    () => {
      calls++;
      return Promise.reject(outage());
    },
  );
  await flush();
  assert.deepEqual(pause.pausedFor, []);
  await clock.advance(10_000);
  assert.equal((await running).ok, false);
  assert.equal(calls, RETRY.attempts);
});

test('shutdown during a retry backoff or an outage wait throws Abandoned (and withdraws the pause)', async () => {
  {
    const { supervisor, abort } = setUp();
    const running = supervisor.run(
      'step',
      meta,
      '0',
      () => undefined,
      () => Promise.reject(retriable()),
    );
    await flush();
    abort.abort(new Error('deadline'));
    await assert.rejects(running, Abandoned);
  }
  {
    const { supervisor, abort, pause } = setUp();
    const running = supervisor.run(
      'step',
      meta,
      '0',
      () => undefined,
      () => Promise.reject(outage()),
    );
    await flush();
    assert.deepEqual(pause.pausedFor, [DEPENDENCY_UNAVAILABLE]);
    abort.abort(new Error('deadline'));
    await assert.rejects(running, Abandoned);
    assert.deepEqual(pause.pausedFor, []);
  }
});

test('Abandoned and Escalated thrown by the call pass through, never retried', async () => {
  const { supervisor, clock } = setUp();
  let calls = 0;
  await assert.rejects(
    supervisor.run(
      'step',
      meta,
      '0',
      () => undefined,
      () => {
        calls++;
        return Promise.reject(new Escalated('stop', retriable()));
      },
    ),
    Escalated,
  );
  await assert.rejects(
    supervisor.run(
      'step',
      meta,
      '0',
      () => undefined,
      () => Promise.reject(new Abandoned('gone')),
    ),
    Abandoned,
  );
  assert.equal(calls, 1);
  assert.equal(clock.pending, 0);
});

const failure = (now: number) => ({
  error: new PipelineError('BAD_VALUE', 'negative amount', { context: { amount: -1 } }),
  attempts: 2,
  firstAt: now - 100,
  lastAt: now,
});

test('fail() with dead-letter pushes the original record byte for byte, with its headers, why and where', async () => {
  const { supervisor, clock, count } = setUp();
  const original = record(42, 'the-key', {
    partition: 2,
    value: Buffer.from([0, 1, 2, 250, 255]),
    headers: { trace: 'abc', 'cf-source': 'x@y/0/1' },
  });
  const out: ProduceRecord[] = [];
  await supervisor.fail(original, out, 'step', failure(clock.now()));
  assert.equal(out.length, 1);
  const [letter] = out;
  assert.equal(letter!.topic, 'sup-dlq');
  assert.deepEqual(letter!.key, original.key);
  assert.deepEqual(letter!.headers, {
    'cf-error-code': 'BAD_VALUE',
    'cf-topology': 'sup',
    'cf-step': 'step',
  });
  const dl = (await json.decode('sup-dlq', letter!.value as Buffer)).value as DeadLetter;
  assert.deepEqual(dl.originalValue, original.value);
  assert.deepEqual(dl.originalHeaders, { trace: Buffer.from('abc'), 'cf-source': Buffer.from('x@y/0/1') });
  assert.equal(dl.originalKey !== null && Buffer.from(dl.originalKey).toString(), 'the-key');
  assert.deepEqual(
    [dl.originalTopic, dl.originalPartition, dl.originalOffset, dl.originalTimestamp],
    ['in', 2, 42, original.timestamp],
  );
  assert.deepEqual(
    [dl.errorCode, dl.errorMessage, dl.retriable, dl.errorContext],
    ['BAD_VALUE', 'negative amount', false, '{"amount":-1}'],
  );
  assert.deepEqual(
    [dl.topology, dl.step, dl.attempts, dl.firstFailureAt, dl.lastFailureAt],
    ['sup', 'step', 2, clock.now() - 100, clock.now()],
  );
  assert.equal(await count('dead_letter'), 1);
});

test('fail() with skip drops the record and counts it; with fail it throws Escalated carrying the error', async () => {
  {
    const { supervisor, clock, count } = setUp({ otherwise: 'skip' });
    const out: ProduceRecord[] = [];
    await supervisor.fail(record(1, 'k'), out, 'step', failure(clock.now()));
    assert.deepEqual(out, []);
    assert.equal(await count('skipped'), 1);
    assert.equal(await count('dead_letter'), 0);
  }
  {
    const { supervisor, clock } = setUp({ otherwise: 'fail' });
    const out: ProduceRecord[] = [];
    await assert.rejects(
      supervisor.fail(record(1, 'k'), out, 'step', failure(clock.now())),
      (err: unknown) => err instanceof Escalated && err.error.code === 'BAD_VALUE',
    );
    assert.deepEqual(out, []);
    // The outcome given to fail() wins over the step's policy (decode always dead-letters).
    await supervisor.fail(record(1, 'k'), out, 'step', failure(clock.now()), 'dead-letter');
    assert.equal(out.length, 1);
  }
});
