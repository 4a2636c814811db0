import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';
import { topic } from '../../../runtime/engine/topology.ts';
import { describe as describeTopology } from '../../../runtime/engine/describe.ts';
import { topology, type TopologyOptions } from '../../../runtime/engine/builder.ts';
import { TopologyTestDriver } from '../../../runtime/engine/test-driver.ts';

interface Order {
  id: string;
  customer: string;
  seq: number;
  amount: number;
}

const orders = topic<Order>('orders');
const enriched = topic('orders.enriched');

function passthrough() {
  return topology('enrich', {}, (b) =>
    b
      .stream(orders, { group: 'enrich' })
      .map('add-vat', (o) => ({ ...o, vat: o.amount * 0.2 }))
      .to(enriched, { key: (o) => o.customer }),
  );
}

test('every input reaches the output topic once, keyed, with order kept per key', async () => {
  const driver = new TopologyTestDriver(passthrough());
  const inputs: Order[] = [];
  for (let i = 0; i < 60; i++) inputs.push({ id: `o${i}`, customer: `c${i % 4}`, seq: Math.floor(i / 4), amount: i });
  await driver.pipe(inputs, { key: (v) => (v as Order).customer });
  await driver.settle();
  const out = await driver.read<Order & { vat: number }>('orders.enriched');
  assert.equal(out.length, 60);
  assert.deepEqual(new Set(out.map((o) => o.value.id)).size, 60);
  for (const c of ['c0', 'c1', 'c2', 'c3']) {
    const seqs = out.filter((o) => o.key === c).map((o) => o.value.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `order kept for ${c}`);
  }
  assert.equal(out[0]!.value.vat, out[0]!.value.amount * 0.2);
  assert.match(out[0]!.headers['cf-source'] ?? '', /^[\w-]+@orders\/\d+\/\d+$/);
  await driver.close();
});

test('a retriable error is retried with backoff and then succeeds', async () => {
  let calls = 0;
  const t = topology('flaky', { errors: { retry: { attempts: 5, initialDelayMs: 1000 } } }, (b) =>
    b
      .stream(orders, { group: 'flaky' })
      .map('flaky-step', (o, ctx) => {
        calls++;
        if (ctx.attempt < 3) throw new PipelineError(ErrorCodes.STORAGE_UNAVAILABLE, 'down', { retriable: true });
        return o;
      })
      .to(enriched, { key: () => null }),
  );
  const driver = new TopologyTestDriver(t);
  const before = driver.clock.now();
  await driver.pipe([{ id: 'a', customer: 'x', seq: 0, amount: 1 }]);
  await driver.settle();
  assert.equal(calls, 3);
  assert.equal((await driver.read('orders.enriched')).length, 1);
  assert.equal((await driver.deadLetters()).length, 0);
  // two backoffs: 1000ms then 2000ms on the fake clock
  assert.ok(driver.clock.now() - before >= 3000);
  assert.equal(await driver.metrics.recordCount({ topology: 'flaky', step: 'flaky-step', outcome: 'retry' }), 2);
  await driver.close();
});

test('a non-retriable error dead-letters the original bytes and headers; the stream keeps going', async () => {
  const t = topology('strict', {}, (b) =>
    b
      .stream(orders, { group: 'strict' })
      .map('validate', (o) => {
        if (o.amount < 0) throw new PipelineError('AMOUNT_NEGATIVE', `amount ${o.amount} < 0`, { context: { id: o.id } });
        return o;
      })
      .to(enriched, { key: (o) => o.id }),
  );
  const driver = new TopologyTestDriver(t);
  await driver.pipe(
    [
      { id: 'good1', customer: 'a', seq: 0, amount: 1 },
      { id: 'bad', customer: 'a', seq: 1, amount: -5 },
      { id: 'good2', customer: 'a', seq: 2, amount: 2 },
    ],
    { key: (v) => (v as Order).id, headers: { trace: 't-1' } },
  );
  await driver.settle();
  const out = await driver.read<Order>('orders.enriched');
  assert.deepEqual(out.map((o) => o.value.id).sort(), ['good1', 'good2']);
  const dlq = await driver.deadLetters();
  assert.equal(dlq.length, 1);
  const letter = dlq[0]!;
  assert.equal(letter.errorCode, 'AMOUNT_NEGATIVE');
  assert.equal(letter.step, 'validate');
  assert.equal(letter.topology, 'strict');
  assert.equal(letter.attempts, 1);
  assert.equal(letter.originalTopic, 'orders');
  assert.equal(Buffer.from(letter.originalHeaders.trace!).toString(), 't-1');
  assert.equal(Buffer.from(letter.originalKey!).toString(), 'bad');
  const original = await driver.serde.decode('orders', Buffer.from(letter.originalValue!));
  assert.equal((original.value as Order).id, 'bad');
  assert.deepEqual(JSON.parse(letter.errorContext!), { id: 'bad' });
  await driver.close();
});

test('retries are bounded: an always-failing retriable step ends in the dead-letter topic with its attempt count', async () => {
  const t = topology('down', { errors: { retry: { attempts: 4, initialDelayMs: 10 } } }, (b) =>
    b
      .stream(orders, { group: 'down' })
      .map('always-down', (): Order => { throw new PipelineError(ErrorCodes.TIMEOUT, 'timed out', { retriable: true }); })
      .to(enriched, { key: () => null }),
  );
  const driver = new TopologyTestDriver(t);
  await driver.pipe([{ id: 'a', customer: 'x', seq: 0, amount: 1 }]);
  await driver.settle();
  const dlq = await driver.deadLetters();
  assert.equal(dlq.length, 1);
  assert.equal(dlq[0]!.attempts, 4);
  assert.equal(dlq[0]!.retriable, true);
  assert.equal(dlq[0]!.errorCode, ErrorCodes.TIMEOUT);
  assert.ok(dlq[0]!.lastFailureAt > dlq[0]!.firstFailureAt);
  await driver.close();
});

test('bad frames are dead-lettered at decode with a stable code', async () => {
  const driver = new TopologyTestDriver(passthrough());
  await driver.pipeRaw([{ value: Buffer.from([1, 0, 0, 0, 0, 123]) }, { value: Buffer.from([0, 0]) }, { value: Buffer.from('\u0000\u0000\u0000\u0000\u0000{not json') }]);
  await driver.pipe([{ id: 'ok', customer: 'c', seq: 0, amount: 3 }]);
  await driver.settle();
  const codes = (await driver.deadLetters()).map((d) => d.errorCode).sort();
  assert.deepEqual(codes, [ErrorCodes.PAYLOAD_TRUNCATED, ErrorCodes.SCHEMA_BAD_MAGIC, ErrorCodes.SCHEMA_MISMATCH].sort());
  assert.equal((await driver.read('orders.enriched')).length, 1);
  await driver.close();
});

test("policy 'fail' stops the topology and leaves the failing record uncommitted", async () => {
  const t = topology('fragile', { errors: { otherwise: 'fail' } }, (b) =>
    b
      .stream(orders, { group: 'fragile' })
      .map('explode', (o) => { if (o.id === 'boom') throw new Error('kaboom'); return o; })
      .to(enriched, { key: (o) => o.customer }),
  );
  const driver = new TopologyTestDriver(t, { partitions: 1 });
  await driver.pipe([{ id: 'boom', customer: 'c', seq: 0, amount: 1 }]);
  await assert.rejects(driver.done!, (err: unknown) => err instanceof PipelineError && /kaboom/.test(err.message));
  assert.equal(await driver.idle(), false);
  assert.equal((await driver.deadLetters()).length, 0);
  await driver.close();
});

test('flatMap fans out, filter drops, effects run before the offset is committed', async () => {
  const written = new Map<string, number>();
  const t = topology('fan', {}, (b) =>
    b
      .stream(orders, { group: 'fan' })
      .filter('positive', (o) => o.amount > 0)
      .flatMap('split', (o) => [0, 1, 2].map((part) => ({ id: o.id, part })))
      .effect('store', {
        target: 'a map in the test',
        key: (v) => `${v.id}#${v.part}`,
        write: (_v, _ctx, k) => {
          written.set(k, (written.get(k) ?? 0) + 1);
          return Promise.resolve();
        },
      })
      .to(enriched, { key: (v) => v.id }),
  );
  const driver = new TopologyTestDriver(t);
  await driver.pipe([
    { id: 'a', customer: 'c', seq: 0, amount: 1 },
    { id: 'z', customer: 'c', seq: 1, amount: 0 },
  ]);
  await driver.settle();
  assert.equal((await driver.read('orders.enriched')).length, 3);
  assert.deepEqual([...written.keys()].sort(), ['a#0', 'a#1', 'a#2']);
  assert.equal(await driver.metrics.recordCount({ topology: 'fan', step: 'positive', outcome: 'dropped' }), 1);
  await driver.close();
});

test('describe() prints the named graph', () => {
  assert.equal(
    describeTopology(passthrough()),
    [
      'Topology: enrich',
      '  Source: orders (group: enrich)',
      '    --> decode',
      '  Processor: add-vat (map, in-process, on error: dead-letter)',
      '    <-- decode',
      '  Sink: to-orders-enriched (topic: orders.enriched)',
      '    <-- add-vat',
      '  Dead letters: dead-letter (retry: 5 attempts, 100ms x2 up to 10000ms; then dead-letter; dependency outages: wait, fetching paused)',
    ].join('\n'),
  );
});

test('topology() rejects bad names and duplicate steps naming the problem', () => {
  const options: TopologyOptions = {};
  assert.throws(
    () => topology('Bad Name', options, (b) => b.stream(orders, { group: 'g' }).map('a', (x) => x).map('a', (x) => x).to(enriched, { key: () => null })),
    /name "Bad Name".*step name "a" is used twice/,
  );
});

test('batch gathers the values of records in flight, answers each its own output, and a failed batch is retried value by value', async () => {
  const sizes: number[] = [];
  let failOnce = true;
  const t = topology('batched', { run: { maxInFlight: 16, maxBatchRecords: 64 }, errors: { retry: { attempts: 3, initialDelayMs: 1 } } }, (b) =>
    b
      .stream(orders, { group: 'batched' })
      .batch('price-many', { maxSize: 8, maxDelayMs: 20 }, (values) => {
        sizes.push(values.length);
        if (failOnce && values.length > 1) {
          failOnce = false;
          return Promise.reject(new PipelineError(ErrorCodes.TIMEOUT, 'the whole batch timed out', { retriable: true }));
        }
        return Promise.resolve(values.map((o) => ({ ...o, vat: o.amount * 0.2 })));
      })
      .to(enriched, { key: (o) => o.customer }),
  );
  const driver = new TopologyTestDriver(t, { partitions: 1 });
  const inputs: Order[] = [];
  for (let i = 0; i < 40; i++) inputs.push({ id: `o${i}`, customer: `c${i % 10}`, seq: Math.floor(i / 10), amount: i });
  await driver.pipe(inputs, { key: (v) => (v as Order).customer });
  await driver.settle();
  const out = await driver.read<Order & { vat: number }>('orders.enriched');
  assert.deepEqual(out.map((o) => o.value.id).sort(), inputs.map((o) => o.id).sort(), 'every input once, the failed batch retried');
  for (const o of out) assert.equal(o.value.vat, o.value.amount * 0.2, `${o.value.id} got its own output`);
  for (const c of ['c0', 'c5']) {
    const seqs = out.filter((o) => o.key === c).map((o) => o.value.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `order kept for ${c}`);
  }
  assert.ok(Math.max(...sizes) > 1, `values were batched (sizes ${sizes.join(',')})`);
  assert.ok(Math.max(...sizes) <= 8, 'never more than maxSize');
  assert.equal((await driver.deadLetters()).length, 0);
  await driver.close();
});
