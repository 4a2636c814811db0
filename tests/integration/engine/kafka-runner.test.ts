import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';
import { topic } from '../../../runtime/engine/topology.ts';
import { topology } from '../../../runtime/engine/builder.ts';
import { runTopology } from '../../../runtime/engine/runner.ts';
import { JsonSerde } from '../../../runtime/engine/json-serde.ts';
import type { KafkaClientName } from '../../../runtime/log/kafka-client.ts';
import { kafkaClients, testKafkaLog } from '../../fixtures/kafka-clients.ts';
import { partitionForKey } from '../../../runtime/log/partitioner.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { deferrer } from '../../fixtures/defer.ts';
import { readTopicUntil } from '../../fixtures/kafka-read.ts';

const brokers = process.env.CF_KAFKA_BROKERS?.split(',');
const skip = brokers === undefined ? 'CF_KAFKA_BROKERS is not set (run through `npm test`, which starts Kafka)' : false;
const serde = new JsonSerde();

interface Item {
  id: string;
  key: string;
  seq: number;
  bad?: boolean;
}

function topologyFor(input: string, output: string, dlq: string) {
  return topology('kafka-it', { deadLetterTopic: dlq }, (b) =>
    b
      .stream(topic<Item>(input), { group: `g-${input}` })
      .map('check', (v) => {
        if (v.bad === true) throw new PipelineError(ErrorCodes.SCHEMA_MISMATCH, 'bad item');
        return v;
      })
      .to(topic<Item>(output), { key: (v) => v.key }),
  );
}

function readTopic(topicName: string, expected: number): Promise<{ key: string; value: Item; partition: number }[]> {
  return readTopicUntil(brokers!, topicName, {
    read: async (message, partition) => ({ key: message.key!.toString(), value: (await serde.decode(topicName, message.value!)).value as Item, partition }),
    done: (out) => out.length >= expected,
    // Generous: a cold broker on a loaded 2-core CI machine may take a while to form the groups.
    timeoutMs: 120_000,
    describe: (out) => `timed out reading ${topicName}: ${out.length}/${expected}; kafkajs said:\n${brokerLines.join('\n')}`,
  });
}

/** Broker client warnings, quoted when a read times out to tell a slow broker from a bug. */
const brokerLines: string[] = [];
const onLog = (e: { level: string; message: string; extra: Record<string, unknown> }): void => {
  brokerLines.push(`${e.level} ${e.message} ${JSON.stringify(e.extra)}`);
  if (brokerLines.length > 40) brokerLines.shift();
};

/** Fresh topic names, a Kafka log closed after the test (`clientId`), and a way to write items to the input. */
async function fresh(t: TestContext, client: KafkaClientName, partitions: number, clientId?: string) {
  const id = randomUUID().slice(0, 8);
  const [input, output, dlq] = [`it-in-${id}`, `it-out-${id}`, `it-dlq-${id}`];
  const defer = deferrer(t);
  const log = testKafkaLog(client, { brokers: brokers!, onLog, ...(clientId === undefined ? {} : { clientId }) });
  defer(() => log.close());
  await log.ensureTopics([{ name: input, partitions }]);
  const producer = await log.producer();
  const send = async (items: readonly Item[]): Promise<void> => {
    await producer.send(await Promise.all(items.map(async (v) => ({ topic: input, key: v.key, value: await serde.encode(input, v) }))));
  };
  return { input, output, dlq, defer, log, send };
}

// Every test runs on each Kafka client behind the EventLog port (CAPTIONFLOW_KAFKA_CLIENT picks one).
for (const client of kafkaClients()) {
  test(`[${client}] keyed records land on murmur2 partitions, as with the Java client and kafkajs`, { skip }, async (t) => {
    const { input, send } = await fresh(t, client, 5);
    const items: Item[] = Array.from({ length: 40 }, (_, i) => ({ id: `i${i}`, key: `key-${i * 7919}`, seq: i }));
    await send(items);
    const read = await readTopic(input, items.length);
    for (const r of read) assert.equal(r.partition, partitionForKey(r.key, 5, 0), `partition of ${r.key}`);
  });

  test(`[${client}] a topology over Kafka: keyed outputs in order per key, dead letters, offsets committed`, { skip }, async (t) => {
    const { input, output, dlq, defer, log, send } = await fresh(t, client, 3);
    const items: Item[] = Array.from({ length: 90 }, (_, i) => ({ id: `i${i}`, key: `k${i % 6}`, seq: Math.floor(i / 6), ...(i % 30 === 7 ? { bad: true } : {}) }));
    await send(items);
    const metrics = new Metrics();
    const running = await runTopology(topologyFor(input, output, dlq), { log, serde, metrics });
    defer(() => running.stop());
    const good = items.filter((v) => v.bad !== true);
    const out = await readTopic(output, good.length);
    const letters = await readTopic(dlq, 3);
    await running.stop();
    assert.deepEqual(out.map((o) => o.value.id).sort(), good.map((v) => v.id).sort());
    for (let k = 0; k < 6; k++) {
      const seqs = out.filter((o) => o.key === `k${k}`).map((o) => o.value.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
      assert.equal(new Set(out.filter((o) => o.key === `k${k}`).map((o) => o.partition)).size, 1, 'one partition per key');
    }
    assert.equal(letters.length, 3);
    const consumer = await log.consumer({ group: `g-${input}`, topics: [input] });
    const committed = await consumer.committed(input);
    const ends = await log.endOffsets(input);
    for (const [p, end] of ends) assert.equal(committed.get(p), end, `partition ${p} fully committed`);
    assert.equal(await metrics.recordCount({ topology: 'kafka-it', step: 'check', outcome: 'dead_letter' }), 3);
  });

  test(`[${client}] two replicas in one consumer group share the partitions and together process every record`, { skip }, async (t) => {
    const { input, output, dlq, defer, log: logA, send } = await fresh(t, client, 4, 'replica-a');
    const logB = testKafkaLog(client, { brokers: brokers!, clientId: 'replica-b', onLog });
    defer(() => logB.close());
    const a = await runTopology(topologyFor(input, output, dlq), { log: logA, serde });
    const b = await runTopology(topologyFor(input, output, dlq), { log: logB, serde });
    defer(() => Promise.all([a.stop(), b.stop()]));
    const items: Item[] = Array.from({ length: 200 }, (_, i) => ({ id: `i${i}`, key: `k${i % 20}`, seq: i }));
    await send(items);
    const out = await readTopic(output, items.length);
    assert.equal(new Set(out.map((o) => o.value.id)).size, items.length);
  });

  test(`[${client}] on Kafka a paused topology fetches nothing, stays in its group, and catches up on resume`, { skip }, async (t) => {
    const { input, output, dlq, defer, log, send } = await fresh(t, client, 3);
    const batch = (from: number): Promise<void> => send(Array.from({ length: 30 }, (_, i) => ({ id: `i${from + i}`, key: `k${i % 6}`, seq: from + i })));
    const running = await runTopology(topologyFor(input, output, dlq), { log, serde });
    defer(() => running.stop());
    await batch(0);
    const first = await readTopic(output, 30);
    assert.equal(first.length, 30);

    running.pause();
    await batch(30);
    // A fetching consumer moves these within a fetch wait (200 ms); give it many.
    await new Promise((r) => setTimeout(r, 3_000));
    const ends = async (): Promise<number> => [...(await log.endOffsets(output)).values()].reduce((a, v) => a + Number(v), 0);
    assert.equal(await ends(), 30, 'nothing processed while paused');
    const committed = await log.committedOffsets(`g-${input}`, input);
    assert.equal([...committed.values()].reduce((a, v) => a + Number(v), 0), 30, 'offsets stay at the pause point');

    running.resume();
    const all = await readTopic(output, 60);
    assert.equal(new Set(all.map((o) => o.value.id)).size, 60);
  });
}
