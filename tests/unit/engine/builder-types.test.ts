/**
 * Types flow through the builder: each operator's input is the previous operator's output, a
 * topic sink takes only values of its topic's type, a step only its topology's dependencies.
 * Every `@ts-expect-error` below is a mismatch the compiler must refuse: if one stops being an
 * error, `npm run typecheck` fails ("unused @ts-expect-error"). The runtime assertions check the
 * graphs the well-typed lines built. (The refused lines are errors on purpose, so eslint's
 * no-unsafe-return, which reads their types as errors, is off in this file.)
 */
/* eslint-disable @typescript-eslint/no-unsafe-return */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageIngested, ImageNormalized } from '../../../schemas/generated/types.ts';
import { Topics } from '../../../schemas/topics.ts';
import { processor, topology } from '../../../runtime/engine/builder.ts';
import { stateStore, topic, walkNodes } from '../../../runtime/engine/topology.ts';
import type normalizeTask from '../../../processors/image/normalize-worker.ts';
import { resolveNormalizeOptions } from '../../../processors/image/normalize-options.ts';

interface Order {
  readonly id: string;
  readonly amount: number;
}
interface Deps {
  readonly rate: number;
}

const orders = topic<Order>('orders');
const totals = topic<{ id: string; total: number }>('totals');

test('a well-typed chain builds; the compiler refuses the mismatches marked below', () => {
  const t = topology<Deps>('typed', {}, (b) => {
    const s = b.stream(orders, { group: 'g' });
    const withTotal = s.map('total', (o, ctx) => ({ id: o.id, total: o.amount * ctx.deps.rate }));
    // @ts-expect-error — `amount` is not on the previous step's output ({ id, total })
    withTotal.map('wrong-field', (v) => v.amount);
    // @ts-expect-error — a step's parameter must accept the previous output (Order is not { id, total })
    withTotal.map('wrong-input', (v: Order) => v.id);
    // @ts-expect-error — the dependencies are Deps: there is no `catalog`
    s.map('wrong-deps', (_o, ctx) => ctx.deps.catalog);
    // @ts-expect-error — an Order does not fit the totals topic, and no `select` makes one
    s.to(totals, { key: (o) => o.id, name: 'totals-unselected' });
    // A select that makes the topic's type is fine; one that does not is refused.
    s.to(totals, { key: (o) => o.id, select: (o) => ({ id: o.id, total: o.amount }), name: 'totals-selected' });
    // @ts-expect-error — select must return the topic's value type
    s.to(totals, { key: (o) => o.id, select: (o) => ({ id: o.id }), name: 'totals-wrong' });
    withTotal.to(totals, { key: (v) => v.id, name: 'totals-out' });
    // Effects pass their input on when they return nothing, and their result when they do.
    const afterVoid = s.effect('audit', { target: 'a log', key: (o) => o.id, write: () => Promise.resolve() });
    afterVoid.map('still-order', (o: Order) => o.amount);
    const afterResult = s.effect('store', { target: 'a store', key: (o) => o.id, write: (o) => Promise.resolve(o.amount) });
    // @ts-expect-error — the effect returned a number: the stream is numbers now
    afterResult.map('not-order', (o: Order) => o.id);
    // Branch routes are the keys of the branches: a route that is not one is refused.
    s.branch('size', (o) => (o.amount > 10 ? 'big' : 'small'), { big: (x) => x.to(orders, { key: (o) => o.id }), small: (x) => x.to(orders, { key: (o) => o.id }) });
    // @ts-expect-error — the route can answer 'small', which has no branch
    s.branch('size-2', (o) => (o.amount > 10 ? 'big' : 'small'), { big: (x) => x.to(orders, { key: (o) => o.id, name: 'big-only' }) });
  });
  const names = [...walkNodes(t.nodes)].map(({ node }) => node.name);
  for (const n of ['total', 'totals-out', 'totals-selected', 'audit', 'still-order', 'store', 'size', 'to-orders']) assert.ok(names.includes(n), `${n} in the graph`);
});

test('schemas/ topics carry their value type into the stream, and worker results are typed by the processor module', () => {
  const normalizeWorker = processor<typeof normalizeTask>(new URL('../../../processors/image/normalize-worker.ts', import.meta.url));
  const t = topology('typed-topics', {}, (b) => {
    const ingested = b.stream(Topics.imageIngested, { group: 'g' });
    ingested.map('id', (v: ImageIngested) => v.imageId);
    // @ts-expect-error — image.ingested values are not ImageNormalized
    ingested.map('wrong', (v: ImageNormalized) => v.pHash);
    // @ts-expect-error — an ImageIngested does not fit image.normalized
    ingested.to(Topics.imageNormalized, { key: (v) => v.imageId });
    const normalized = ingested.worker('normalize', normalizeWorker, {
      toTask: () => ({ task: { bytes: new Uint8Array(0), options: resolveNormalizeOptions({}) } }),
      fromResult: (r) => r.perceptual.pHash,
    });
    normalized.map('hash-length', (h: string) => h.length);
    ingested.worker('bad-task', normalizeWorker, {
      // @ts-expect-error — the task must be the processor's task type
      toTask: (v) => ({ task: { image: v.imageId } }),
    });
    ingested.to(Topics.imageIngested, { key: (v) => v.imageId });
  });
  assert.equal(t.source.topic.name, Topics.imageIngested.name);
});

test('a state store is typed by its declaration and a step must declare it', () => {
  const counter = stateStore<Map<string, number>, Deps>({ name: 'counts', description: 'per id', backing: 'memory (test)', open: () => new Map() });
  assert.throws(
    () =>
      topology<Deps>('undeclared', {}, (b) =>
        b.stream(orders, { group: 'g' }).map('count', (o) => o, { stores: [counter] }).to(orders, { key: (o) => o.id }),
      ),
    /uses state store "counts", which the topology does not declare/,
  );
  topology<Deps>('declared', {}, (b) => {
    const store = b.store(counter);
    b.stream(orders, { group: 'g' })
      .map('count', (o, ctx) => ctx.store(store).get(o.id) ?? 0, { stores: [store] })
      // @ts-expect-error — the store holds a Map<string, number>, not a Set
      .map('wrong', (n, ctx) => ctx.store<Set<string>>(store).has(String(n)))
      .to(topic<boolean>('flags'), { key: () => null });
  });
});
