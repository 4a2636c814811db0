/**
 * The partition loop alone: lanes per partition, keys within a batch, and the order
 * records → produce → commit, with hand-made stages (no log, no topology).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupByKey, PartitionLoop, type BatchStages } from '../../../runtime/engine/partition-loop.ts';
import type { ProduceRecord } from '../../../runtime/ports.ts';
import { batchOf, control, flush, gate, record } from './fixtures/engine-parts.ts';

const noop: Pick<BatchStages, 'produce' | 'commit'> = {
  produce: () => Promise.resolve(),
  commit: () => Promise.resolve(),
};

test('records of one key run one at a time in offset order; distinct keys run concurrently, never more than maxInFlight', async () => {
  for (const maxInFlight of [1, 2, 3]) {
    const keys = ['a', 'b', 'a', 'c', 'b', 'a', 'd', 'e', 'c', 'a'];
    const busyKeys = new Set<string>();
    let running = 0;
    let most = 0;
    let overlapped = false;
    const finished = new Map<string, number[]>();
    const loop = new PartitionLoop(
      {
        ...noop,
        record: async (r, key) => {
          if (busyKeys.has(key!)) overlapped = true;
          busyKeys.add(key!);
          most = Math.max(most, ++running);
          await flush(1 + (Number(r.offset) % 3)); // uneven work, so a later record could overtake
          running--;
          busyKeys.delete(key!);
          finished.set(key!, [...(finished.get(key!) ?? []), Number(r.offset)]);
        },
      },
      maxInFlight,
    );
    await loop.handle(batchOf(keys), control());
    loop.close();
    assert.equal(overlapped, false, `two records of one key ran at once (maxInFlight ${maxInFlight})`);
    assert.equal(most, maxInFlight, `keys ran ${most} at once with maxInFlight ${maxInFlight}`);
    for (const [key, offsets] of finished) {
      assert.deepEqual(
        offsets,
        keys.flatMap((k, i) => (k === key ? [i] : [])),
        `order of key ${key}`,
      );
    }
  }
});

test('batches of one partition run one after another; another partition runs meanwhile', async () => {
  const gates = new Map(['0/0', '0/1', '1/0'].map((k) => [k, gate()]));
  const events: string[] = [];
  const loop = new PartitionLoop(
    {
      produce: () => Promise.resolve(),
      record: async (r) => {
        const id = `${r.partition}/${r.offset}`;
        events.push(`start ${id}`);
        await gates.get(id)!.promise;
      },
      commit: (b, c) => {
        events.push(`commit ${b.partition}/${b.records[0]!.offset}`);
        return c.commit('x');
      },
    },
    8,
  );
  const first = loop.handle(batchOf(['a'], { partition: 0, from: 0 }), control());
  const second = loop.handle(batchOf(['b'], { partition: 0, from: 1 }), control());
  const other = loop.handle(batchOf(['c'], { partition: 1, from: 0 }), control());
  await flush();
  assert.deepEqual(
    events,
    ['start 0/0', 'start 1/0'],
    'partition 1 started while partition 0 is busy; its next batch waits',
  );

  gates.get('1/0')!.open();
  await other;
  assert.deepEqual(events, ['start 0/0', 'start 1/0', 'commit 1/0'], 'partition 1 finished on its own');

  gates.get('0/0')!.open();
  await first;
  await flush();
  assert.deepEqual(
    events.slice(3),
    ['commit 0/0', 'start 0/1'],
    'the next batch of partition 0 started after the first committed',
  );
  gates.get('0/1')!.open();
  await second;
  assert.equal(events.at(-1), 'commit 0/1');
  loop.close();
});

test('a batch is produced once after all its records, and committed after the produce was acknowledged', async () => {
  const events: string[] = [];
  const produced = gate();
  let outputs: readonly ProduceRecord[] = [];
  const ctl = control();
  const loop = new PartitionLoop(
    {
      record: async (r, _key, out) => {
        // The first record finishes last: produce must wait for it, not for the last offset.
        await flush(r.offset === '0' ? 6 : 1);
        out.push({ topic: 'out', key: null, value: Buffer.from(r.offset) });
        events.push(`record ${r.offset}`);
      },
      produce: async (out) => {
        outputs = [...out];
        events.push('produce');
        await produced.promise;
        events.push('produced');
      },
      commit: (batch, c) => {
        events.push('commit');
        return c.commit(String(Number(batch.records.at(-1)!.offset) + 1));
      },
      started: () => events.push('started'),
      finished: () => events.push('finished'),
    },
    4,
  );
  const handled = loop.handle(batchOf(['a', 'b', 'c']), ctl);
  await flush(12);
  assert.equal(events.at(-1), 'produce', 'produce waits to be acknowledged; nothing is committed meanwhile');
  assert.deepEqual(ctl.commits, []);
  produced.open();
  await handled;
  assert.equal(events[0], 'started');
  assert.deepEqual(events.slice(1, 4).sort(), ['record 0', 'record 1', 'record 2']);
  assert.deepEqual(events.slice(4), ['produce', 'produced', 'commit', 'finished']);
  assert.deepEqual(
    outputs.map((o) => String(o.value)).sort(),
    ['0', '1', '2'],
    'every output of the batch in one produce',
  );
  assert.deepEqual(ctl.commits, ['3']);

  // A batch with no outputs (everything filtered) still commits, without producing.
  events.length = 0;
  const quiet = new PartitionLoop(
    {
      record: () => Promise.resolve(),
      produce: () => Promise.reject(new Error('nothing to produce')),
      commit: () => Promise.resolve(void events.push('commit')),
    },
    4,
  );
  await quiet.handle(batchOf(['a'], { from: 3 }), ctl);
  assert.deepEqual(events, ['commit']);
  loop.close();
  quiet.close();
});

test('a record failure rejects its batch (not produced, not committed) and the lane goes on with the next batch', async () => {
  const events: string[] = [];
  const loop = new PartitionLoop(
    {
      record: async (r, _key, out) => {
        await flush(1);
        if (r.offset === '1') throw new Error('boom at 1');
        out.push({ topic: 'out', key: null, value: Buffer.from(r.offset) });
      },
      produce: (out) =>
        Promise.resolve(void events.push(`produce ${out.map((o) => String(o.value)).join(',')}`)),
      commit: (b) => Promise.resolve(void events.push(`commit ${b.records[0]!.offset}`)),
      finished: (b) => events.push(`finished ${b.records[0]!.offset}`),
    },
    4,
  );
  const failing = loop.handle(batchOf(['a', 'b', 'c'], { from: 0 }), control());
  const next = loop.handle(batchOf(['d', 'e'], { from: 3 }), control());
  await assert.rejects(failing, /boom at 1/);
  await next;
  assert.deepEqual(events, ['finished 0', 'produce 3,4', 'commit 3', 'finished 3']);

  // Something thrown that is not an Error still rejects with an Error.
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what a careless step might throw
  const odd = new PartitionLoop({ ...noop, record: () => Promise.reject('a string') }, 1);
  await assert.rejects(
    odd.handle(batchOf(['a']), control()),
    (err: unknown) => err instanceof Error && err.cause === 'a string',
  );
  loop.close();
  odd.close();
});

test('groupByKey: one group per key in offset order, groups in order of first appearance; a null key is a group of its own', () => {
  const records = [
    record(0, 'a'),
    record(1, null),
    record(2, 'b'),
    record(3, 'a'),
    record(4, null),
    record(5, 'b'),
    record(6, 'a'),
  ];
  const groups = groupByKey(records).map((g) => ({ key: g.key, offsets: g.records.map((r) => r.offset) }));
  assert.deepEqual(groups, [
    { key: 'a', offsets: ['0', '3', '6'] },
    { key: null, offsets: ['1'] },
    { key: 'b', offsets: ['2', '5'] },
    { key: null, offsets: ['4'] },
  ]);
  assert.deepEqual(groupByKey([]), []);
});
