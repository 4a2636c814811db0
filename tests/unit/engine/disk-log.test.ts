import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDiskLog } from '../../../runtime/log/disk-log.ts';
import { createMemoryLog } from '../../../runtime/log/memory-log.ts';
import { Partitioners } from 'kafkajs';
import { fastKeyPartitioner, partitionForKey, murmur2 } from '../../../runtime/log/partitioner.ts';
import type { ConsumedBatch, EventLog } from '../../../runtime/ports.ts';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'cf-disklog-'));
}

async function consumeAll(log: EventLog, group: string, topic: string, expected: number, commit = true): Promise<string[]> {
  const consumer = await log.consumer({ group, topics: [topic], maxBatchRecords: 7 });
  const seen: string[] = [];
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const running = consumer.run(async (batch: ConsumedBatch, control) => {
    for (const r of batch.records) seen.push(r.value!.toString());
    if (commit) await control.commit(String(Number(batch.records.at(-1)!.offset) + 1));
    if (seen.length >= expected) resolveDone();
  });
  await done;
  await consumer.stop();
  await running;
  return seen;
}

test('records and committed offsets survive closing and reopening the disk log', async () => {
  const dir = tmp();
  try {
    const log = createDiskLog({ dir });
    const producer = await log.producer();
    await producer.send(Array.from({ length: 30 }, (_, i) => ({ topic: 't', key: `k${i % 5}`, value: Buffer.from(`v${i}`) })));
    assert.equal((await consumeAll(log, 'g', 't', 30)).length, 30);
    await producer.send([{ topic: 't', key: 'k1', value: Buffer.from('after') }]);
    await log.close();

    const reopened = createDiskLog({ dir });
    // The group resumes after its committed offsets: only the record produced after the commit is new.
    assert.deepEqual(await consumeAll(reopened, 'g', 't', 1), ['after']);
    // A new group reads from the beginning.
    assert.equal((await consumeAll(reopened, 'other', 't', 31)).length, 31);
    await reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('uncommitted records are delivered again to the group (at-least-once)', async () => {
  const log = createMemoryLog();
  const producer = await log.producer();
  await producer.send(Array.from({ length: 10 }, (_, i) => ({ topic: 't', key: null, value: Buffer.from(`v${i}`) })));
  assert.equal((await consumeAll(log, 'g', 't', 10, false)).length, 10);
  assert.equal((await consumeAll(log, 'g', 't', 10, true)).length, 10);
  await log.close();
});

test('same key, same partition, in order; partitioning matches Kafka murmur2', async () => {
  // Reference values of Kafka's Utils.murmur2 (from its unit tests).
  assert.equal(murmur2(Buffer.from('21')), -973932308);
  assert.equal(murmur2(Buffer.from('foobar')), -790332482);
  assert.equal(murmur2(Buffer.from('a-little-bit-long-string')), -985981536);
  assert.equal(partitionForKey('k', 1, 0), 0);
  // The kafkajs partitioner picks what kafkajs' own default picks, for string and byte keys.
  const ours = fastKeyPartitioner(Partitioners.DefaultPartitioner());
  const theirs = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: 7 }, (_, i) => ({ partitionId: i, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));
  for (let i = 0; i < 500; i++) {
    const key = i % 2 === 0 ? `key-${i}-${'x'.repeat(i % 13)}` : Buffer.from([i & 0xff, (i * 7) & 0xff, (i * 13) & 0xff].slice(0, 1 + (i % 3)));
    const args = { topic: 't', partitionMetadata, message: { key, value: null } };
    assert.equal(ours(args), theirs(args), `key ${String(key)}`);
  }
  assert.equal(ours({ topic: 't', partitionMetadata, message: { key: 'k', value: null, partition: 5 } }), 5);
  const log = createMemoryLog({ defaultPartitions: 4 });
  const producer = await log.producer();
  const acks = await producer.send(Array.from({ length: 20 }, (_, i) => ({ topic: 't', key: 'same', value: Buffer.from(String(i)) })));
  assert.equal(new Set(acks.map((a) => a.partition)).size, 1);
  assert.deepEqual(acks.map((a) => Number(a.offset)), Array.from({ length: 20 }, (_, i) => i));
  await log.close();
});

test('two members of a group split the partitions; when one leaves the other takes over', async () => {
  const log = createMemoryLog({ defaultPartitions: 4, pollIntervalMs: 5 });
  await log.ensureTopics([{ name: 't', partitions: 4 }]);
  const a = await log.consumer({ group: 'g', topics: ['t'] });
  const b = await log.consumer({ group: 'g', topics: ['t'] });
  const byMember = { a: new Set<number>(), b: new Set<number>() };
  const handler = (who: 'a' | 'b') => async (batch: ConsumedBatch, control: { commit(o: string): Promise<void> }) => {
    byMember[who].add(batch.partition);
    await control.commit(String(Number(batch.records.at(-1)!.offset) + 1));
  };
  const ra = a.run(handler('a'));
  const rb = b.run(handler('b'));
  const producer = await log.producer();
  await producer.send(Array.from({ length: 4 }, (_, p) => ({ topic: 't', key: null, value: Buffer.from('x'), partition: p })));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(byMember.a.size + byMember.b.size, 4);
  assert.deepEqual([...byMember.a].filter((p) => byMember.b.has(p)), [], 'no partition read by both');
  await b.stop();
  await rb;
  byMember.a.clear();
  await producer.send(Array.from({ length: 4 }, (_, p) => ({ topic: 't', key: null, value: Buffer.from('y'), partition: p })));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(byMember.a.size, 4, 'the remaining member owns every partition');
  await a.stop();
  await ra;
  await log.close();
});

test('retention deletes old records but offsets never go backwards', async () => {
  const dir = tmp();
  let now = 1_000;
  try {
    const log = createDiskLog({ dir, retentionMs: 100, now: () => now, defaultPartitions: 1 });
    const producer = await log.producer();
    await producer.send(Array.from({ length: 5 }, (_, i) => ({ topic: 't', key: null, value: Buffer.from(`old${i}`) })));
    now = 2_000;
    assert.equal(log.compact(now), 4, 'keeps the last record of the partition');
    await producer.send([{ topic: 't', key: null, value: Buffer.from('new') }]);
    const acks = await producer.send([{ topic: 't', key: null, value: Buffer.from('newer') }]);
    assert.equal(acks[0]!.offset, '6');
    assert.deepEqual(log.readAll('t').map((r) => r.value!.toString()), ['old4', 'new', 'newer']);
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
