/**
 * kafkajs 2.2.4 against the pinned Apache Kafka (KRaft) started by deploy/services:
 * produce/consume through an idempotent producer and a consumer group, a rebalance that
 * splits partitions between two members, and transactions (committed visible, aborted not,
 * for a read_committed consumer).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type { Admin, Consumer, Producer } from 'kafkajs';
import { eventually, mustEnv, skipUnless, uniqueName } from './service-env.ts';

const skip = skipUnless('CF_KAFKA_BROKERS');

function client(id: string): Kafka {
  return new Kafka({
    clientId: id,
    brokers: mustEnv('CF_KAFKA_BROKERS').split(','),
    logLevel: logLevel.NOTHING,
    // Bounded: if the broker goes away mid-run, the tests fail instead of retrying forever
    // (kafkajs restarts a crashed consumer indefinitely by default, which keeps the file alive).
    retry: { retries: 5, restartOnFailure: () => Promise.resolve(false) },
  });
}

/** Resolves when `p` does or after `ms`, whichever comes first (disconnects can hang on a dead broker). */
async function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

describe('kafka (kafkajs against the local broker)', { skip, timeout: 120_000 }, () => {
  let kafka: Kafka;
  let admin: Admin;
  const toClose: (Producer | Consumer)[] = [];

  before(async () => {
    kafka = client(uniqueName('cf-test'));
    admin = kafka.admin();
    await admin.connect();
  });

  after(async () => {
    await Promise.all([...toClose, admin].map((c) => atMost(c.disconnect(), 10_000)));
  });

  async function newTopic(partitions: number): Promise<string> {
    const topic = uniqueName('cf-test-topic');
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    return topic;
  }

  test('an idempotent producer writes and a consumer group reads every record back', async () => {
    const topic = await newTopic(3);
    const producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
    toClose.push(producer);
    await producer.connect();
    const sent = Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
    await producer.send({ topic, messages: sent, acks: -1 });

    const groupId = uniqueName('cf-test-group');
    const consumer = kafka.consumer({ groupId });
    toClose.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen = new Map<string, string>();
    const partitions = new Set<number>();
    await consumer.run({
      eachMessage: ({ message, partition }) => {
        seen.set(message.key?.toString() ?? '', message.value?.toString() ?? '');
        partitions.add(partition);
        return Promise.resolve();
      },
    });
    await eventually(() => assert.equal(seen.size, sent.length), 30_000);
    assert.deepEqual(seen, new Map(sent.map((m) => [m.key, m.value])));
    assert.equal(partitions.size, 3, 'keys spread over all 3 partitions');

    // The group commits what it consumed: its committed offsets add up to every record.
    await eventually(async () => {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const total = (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
      assert.equal(total, sent.length);
    }, 30_000);
  });

  test('a second consumer joining the group takes over part of the partitions', async () => {
    const topic = await newTopic(4);
    const groupId = uniqueName('cf-test-group');
    const assignments = new Map<string, number[]>();
    const join = (name: string, c: Consumer): void => {
      c.on(c.events.GROUP_JOIN, (e) => {
        assignments.set(name, [...(e.payload.memberAssignment[topic] ?? [])].sort());
      });
    };

    const a = kafka.consumer({
      groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 500,
      rebalanceTimeout: 10_000,
    });
    toClose.push(a);
    join('a', a);
    await a.connect();
    await a.subscribe({ topic, fromBeginning: true });
    await a.run({ eachMessage: async () => {} });
    await eventually(() => assert.deepEqual(assignments.get('a'), [0, 1, 2, 3]), 30_000);

    const b = kafka.consumer({
      groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 500,
      rebalanceTimeout: 10_000,
    });
    toClose.push(b);
    join('b', b);
    await b.connect();
    await b.subscribe({ topic, fromBeginning: true });
    await b.run({ eachMessage: async () => {} });

    await eventually(() => {
      const pa = assignments.get('a') ?? [];
      const pb = assignments.get('b') ?? [];
      assert.ok(pa.length > 0 && pb.length > 0, `both members own partitions: a=${pa.join()} b=${pb.join()}`);
      assert.deepEqual([...pa, ...pb].sort(), [0, 1, 2, 3], 'every partition owned exactly once');
    }, 45_000);
  });

  test('a read_committed consumer sees committed transactions and never aborted ones', async () => {
    const topic = await newTopic(1);
    const producer = kafka.producer({
      transactionalId: uniqueName('cf-test-tx'),
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    toClose.push(producer);
    await producer.connect();

    const aborted = await producer.transaction();
    await aborted.send({ topic, messages: [{ value: 'aborted' }] });
    await aborted.abort();
    const committed = await producer.transaction();
    await committed.send({ topic, messages: [{ value: 'committed-1' }, { value: 'committed-2' }] });
    await committed.commit();

    const consumer = kafka.consumer({ groupId: uniqueName('cf-test-group'), readUncommitted: false });
    toClose.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const values: string[] = [];
    await consumer.run({
      eachMessage: ({ message }) => {
        values.push(message.value?.toString() ?? '');
        return Promise.resolve();
      },
    });
    await eventually(() => assert.deepEqual(values, ['committed-1', 'committed-2']), 30_000);
  });
});
