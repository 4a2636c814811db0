/**
 * The record processor alone: one record through a compiled tree, outputs and dead letters
 * collected in `out` (no log, no batches).
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
import { PauseControl } from '../../../runtime/engine/pause-control.ts';
import { RecordProcessor } from '../../../runtime/engine/record-processor.ts';
import { StepMeters } from '../../../runtime/engine/step-meters.ts';
import { Supervisor } from '../../../runtime/engine/supervisor.ts';
import { stateStore, topic, type Topology } from '../../../runtime/engine/topology.ts';
import type { ProduceRecord } from '../../../runtime/ports.ts';
import { record } from './fixtures/engine-parts.ts';

const json = new JsonSerde();

interface Item {
  id: string;
  kind: string;
  parts: number[];
}

const input = topic<Item>('in');

/** A processor for `t`; `process(value)` runs one record and returns what it pushed, decoded. */
function processorOf<D>(t: Topology<D>, stores: ReadonlyMap<string, unknown> = new Map()) {
  const tt = t as Topology<never>;
  const clock = new FakeClock();
  const metrics = new Metrics();
  const meters = new StepMeters(tt.name, RecordProcessor.stepNames(tt), metrics);
  const abort = new AbortController();
  const supervisor = new Supervisor({
    topology: tt,
    serde: json,
    clock,
    logger: silentLogger,
    meters,
    pause: new PauseControl(tt.name, silentLogger, metrics),
    signal: abort.signal,
  });
  const processor = new RecordProcessor({
    topology: tt,
    serde: json,
    supervisor,
    meters,
    clock,
    logger: silentLogger,
    pool: undefined,
    signal: abort.signal,
    deps: undefined,
    stores,
  });
  const process = async (value: unknown, offset = 0): Promise<{ topic: string; value: unknown }[]> => {
    const out: ProduceRecord[] = [];
    const bytes = Buffer.isBuffer(value) ? value : await json.encode('in', value);
    await processor.process(record(offset, 'k', { value: bytes }), 'k', out);
    return Promise.all(
      out.map(async (o) => ({
        topic: o.topic,
        value: (await json.decode(o.topic, o.value as Buffer)).value,
      })),
    );
  };
  return { process, clock };
}

const item = (id: string, kind = 'small', parts: number[] = []): Item => ({ id, kind, parts });

test('a branch sends each value down its route only; a route the branch does not have dead-letters as INTERNAL', async () => {
  const seen: string[] = [];
  const t = topology('router', {}, (b) =>
    b.stream(input, { group: 'router' }).branch('by-kind', (v) => v.kind as 'small' | 'large', {
      small: (s) =>
        s
          .map('tag-small', (v) => (seen.push(`small:${v.id}`), v))
          .to(topic<Item>('small'), { key: (v) => v.id }),
      large: (s) =>
        s
          .map('tag-large', (v) => (seen.push(`large:${v.id}`), v))
          .to(topic<Item>('large'), { key: (v) => v.id }),
    }),
  );
  const { process, clock } = processorOf(t);
  assert.deepEqual(
    (await process(item('a', 'small'))).map((o) => o.topic),
    ['small'],
  );
  assert.deepEqual(
    (await process(item('b', 'large'))).map((o) => o.topic),
    ['large'],
  );
  assert.deepEqual(seen, ['small:a', 'large:b']);

  const out = await process(item('c', 'huge'));
  assert.deepEqual(
    out.map((o) => o.topic),
    ['dead-letter'],
  );
  const dl = out[0]!.value as DeadLetter;
  assert.deepEqual([dl.errorCode, dl.step, dl.attempts], [ErrorCodes.INTERNAL, 'by-kind', 1]);
  assert.match(dl.errorMessage, /"huge"/);
  assert.deepEqual(seen, ['small:a', 'large:b'], 'no branch ran for it');
  assert.equal(clock.pending, 0, 'a bug is not retried');
});

test('a stream with several children gives each output to every child, in order', async () => {
  const t = topology('fan', {}, (b) => {
    const parts = b.stream(input, { group: 'fan' }).flatMap('split', (v) => v.parts);
    parts.map('double', (n) => n * 2).to(topic<number>('doubled'), { key: (n) => String(n) });
    parts.to(topic<number>('as-is'), { key: (n) => String(n) });
  });
  const out = await processorOf(t).process(item('a', 'small', [1, 2, 3]));
  assert.deepEqual(
    out.map((o) => `${o.topic}:${String(o.value)}`),
    ['doubled:2', 'as-is:1', 'doubled:4', 'as-is:2', 'doubled:6', 'as-is:3'],
  );
});

test('a record gets one dead letter even when several of its fanned-out values would fail; the rest of its tree is skipped', async () => {
  const checked: number[] = [];
  const t = topology('fan-fail', {}, (b) => {
    const parts = b.stream(input, { group: 'fan-fail' }).flatMap('split', (v) => v.parts);
    parts
      .map('check', (n) => {
        checked.push(n);
        if (n < 0) throw new PipelineError('NEGATIVE', `${n} < 0`);
        return n;
      })
      .to(topic<number>('checked'), { key: (n) => String(n) });
    parts.to(topic<number>('seen'), { key: (n) => String(n) });
  });
  const out = await processorOf(t).process(item('a', 'small', [1, -2, -3, 4]));
  assert.deepEqual(checked, [1, -2], 'values after the failure are not processed');
  // The value before the failure went through both children; nothing after it.
  assert.deepEqual(
    out.map((o) => o.topic),
    ['checked', 'seen', 'dead-letter'],
  );
  assert.deepEqual(
    [(out[2]!.value as DeadLetter).errorCode, (out[2]!.value as DeadLetter).step],
    ['NEGATIVE', 'check'],
  );

  // The same with one child (compiled without the sibling loop).
  checked.length = 0;
  const single = topology('fan-fail-one', {}, (b) =>
    b
      .stream(input, { group: 'fan-fail-one' })
      .flatMap('split', (v) => v.parts)
      .map('check', (n) => {
        checked.push(n);
        if (n < 0) throw new PipelineError('NEGATIVE', `${n} < 0`);
        return n;
      })
      .to(topic<number>('checked'), { key: (n) => String(n) }),
  );
  const one = await processorOf(single).process(item('a', 'small', [-1, -2, 3]));
  assert.deepEqual(
    one.map((o) => o.topic),
    ['dead-letter'],
  );
  assert.deepEqual(checked, [-1]);
});

test('ctx.store(ref) gives a step the store it declared; a store it did not declare throws INTERNAL', async () => {
  const counts = stateStore({
    name: 'counts',
    description: 'seen per id',
    backing: 'memory (test)',
    open: () => new Map<string, number>(),
  });
  const opened = new Map<string, number>();
  const t = topology('stateful', {}, (b) => {
    b.store(counts);
    b.stream(input, { group: 'stateful' })
      .map(
        'count',
        (v, ctx) => {
          const m = ctx.store(counts);
          m.set(v.id, (m.get(v.id) ?? 0) + 1);
          return v;
        },
        { stores: [counts] },
      )
      .map('peek', (v, ctx) => (v.kind === 'peek' ? (ctx.store(counts), v) : v))
      .to(topic<Item>('out'), { key: (v) => v.id });
  });
  const { process } = processorOf(t, new Map([['counts', opened]]));
  assert.deepEqual(
    (await process(item('a'))).map((o) => o.topic),
    ['out'],
  );
  assert.deepEqual(
    (await process(item('a'))).map((o) => o.topic),
    ['out'],
  );
  assert.deepEqual([...opened], [['a', 2]], 'the opened store, the same one across records');

  const out = await process(item('b', 'peek'));
  assert.deepEqual(
    out.map((o) => o.topic),
    ['dead-letter'],
  );
  const dl = out[0]!.value as DeadLetter;
  assert.deepEqual([dl.errorCode, dl.step], [ErrorCodes.INTERNAL, 'peek']);
  assert.match(dl.errorMessage, /without declaring/);
});

test('an effect passes its input on when write returns nothing, and its result when it returns one; write gets the idempotency key', async () => {
  const keys: string[] = [];
  const afterPut: unknown[] = [];
  const t = topology('effects', {}, (b) =>
    b
      .stream(input, { group: 'effects' })
      .effect('put', {
        target: 'objects: test',
        key: (v) => `obj/${v.id}`,
        write: (_v, _ctx, key) => {
          keys.push(key);
          return Promise.resolve();
        },
      })
      .map('after-put', (v) => (afterPut.push(v), v))
      .effect('upsert', {
        target: 'catalog: test',
        key: (v) => v.id,
        write: (v) => Promise.resolve({ ...v, version: 2 }),
      })
      .to(topic<Item & { version: number }>('out'), { key: (v) => v.id }),
  );
  const out = await processorOf(t).process(item('a'));
  assert.deepEqual(keys, ['obj/a']);
  assert.deepEqual(afterPut, [item('a')], 'the input flowed on past a write that returned nothing');
  assert.deepEqual(out, [{ topic: 'out', value: { ...item('a'), version: 2 } }]);
});

test('bytes that do not decode are dead-lettered at "decode", before any step', async () => {
  let ran = 0;
  const t = topology('decoding', {}, (b) =>
    b
      .stream(input, { group: 'decoding' })
      .map('any', (v) => (ran++, v))
      .to(topic<Item>('out'), { key: (v) => v.id }),
  );
  const out = await processorOf(t).process(Buffer.from([0, 0, 0, 0, 0, 0x7b]));
  assert.deepEqual(
    out.map((o) => o.topic),
    ['dead-letter'],
  );
  assert.deepEqual(
    [(out[0]!.value as DeadLetter).step, (out[0]!.value as DeadLetter).errorCode],
    ['decode', ErrorCodes.SCHEMA_MISMATCH],
  );
  assert.equal(ran, 0);
});

test('a step that throws a retriable error is retried under supervision; each attempt gets its own context', async () => {
  const seen: { step: string; attempt: number; offset: string; topology: string }[] = [];
  const t = topology('retrying', { errors: { retry: { attempts: 3, initialDelayMs: 10 } } }, (b) =>
    b
      .stream(input, { group: 'retrying' })
      .map('flaky', (v, ctx) => {
        seen.push({
          step: ctx.step,
          attempt: ctx.attempt,
          offset: ctx.record.offset,
          topology: ctx.topology,
        });
        if (ctx.attempt < 3) throw new PipelineError('FLAKY', 'try again', { retriable: true });
        return v;
      })
      .to(topic<Item>('out'), { key: (v) => v.id }),
  );
  const { process, clock } = processorOf(t);
  const processing = process(item('a'), 9);
  await new Promise((r) => setImmediate(r));
  await clock.advance(1_000);
  assert.deepEqual(
    (await processing).map((o) => o.topic),
    ['out'],
  );
  assert.deepEqual(
    seen.map((s) => s.attempt),
    [1, 2, 3],
  );
  assert.ok(seen.every((s) => s.step === 'flaky' && s.offset === '9' && s.topology === 'retrying'));
});
