/**
 * A Kafka broker outage mid-stream, on a broker of this test's own (the shared one keeps serving
 * the other tests): the broker is shut down while a topology is halfway through its input and
 * brought back a few seconds later. Every input must come out (at least once — the guarantee is
 * at-least-once into idempotent sinks; duplicates are counted and shown), the topology must not
 * have failed, and the group's offsets must reach the end of the input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../../runtime/logger.ts';
import { startPrivateKafka } from '../../../deploy/services/kafka.ts';
import { topic } from '../../../runtime/engine/topology.ts';
import { topology } from '../../../runtime/engine/builder.ts';
import { runTopology, SINK_UNAVAILABLE } from '../../../runtime/engine/runner.ts';
import { JsonSerde } from '../../../runtime/engine/json-serde.ts';
import { kafkaClients, testKafkaLog } from '../../fixtures/kafka-clients.ts';
import { deferrer } from '../../fixtures/defer.ts';
import { readTopicUntil } from '../../fixtures/kafka-read.ts';

const skip = process.env.CF_KAFKA_BROKERS === undefined ? 'CF_KAFKA_BROKERS is not set (run through `npm test`, which installs Kafka)' : false;
const serde = new JsonSerde();
const N = 600;

interface Item {
  id: string;
  key: string;
}

/** Read `topicName` from the start until every one of `ids` was seen; returns every id read (duplicates too). */
async function readUntilAll(brokers: string, topicName: string, ids: ReadonlySet<string>): Promise<string[]> {
  const seen = new Set<string>();
  return readTopicUntil([brokers], topicName, {
    read: async (message) => {
      const { id } = (await serde.decode(topicName, message.value!)).value as Item;
      seen.add(id);
      return id;
    },
    done: () => seen.size >= ids.size && [...ids].every((x) => seen.has(x)),
    timeoutMs: 180_000,
    describe: () => `timed out: ${seen.size}/${ids.size} distinct ids in ${topicName}`,
  });
}

for (const client of kafkaClients()) {
  test(`[${client}] a broker outage mid-stream: every input comes out once the broker is back; the topology keeps running`, { skip, timeout: 600_000 }, async (t) => {
    const defer = deferrer(t);
    const kafka = await startPrivateKafka();
    defer(() => kafka.close());
    // Few client retries: kafkajs gives up within the outage, so the engine's own retries (and its
    // sink-unavailable pause) are what carry the records through.
    const log = testKafkaLog(client, { brokers: [kafka.brokers], sessionTimeoutMs: 10_000, clientId: 'outage-test', clientRetries: 2 });
    defer(() => log.close());
    await log.ensureTopics([{ name: 'in', partitions: 3 }]);
    const producer = await log.producer();
    const items: Item[] = Array.from({ length: N }, (_, i) => ({ id: `i${i}`, key: `k${i % 12}` }));
    await producer.send(await Promise.all(items.map(async (v) => ({ topic: 'in', key: v.key, value: await serde.encode('in', v) }))));
    await producer.close();

    const lines: string[] = [];
    const logLines = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString().trim());
        if (lines.length > 200) lines.shift();
        cb();
      },
    });
    let processed = 0;
    let beginShutdown!: () => void;
    const shutdownBegan = new Promise<void>((resolve) => (beginShutdown = resolve));
    let outageBegan!: () => void;
    const brokerIsDown = new Promise<void>((resolve) => (outageBegan = resolve));
    const running = await runTopology(
      topology('outage', { run: { maxBatchRecords: 50, maxInFlight: 4 } }, (b) =>
        b
          .stream(topic<Item>('in'), { group: 'outage' })
          // Past the first half, records wait for the outage, so it lands mid-stream however fast
          // or slow the machine is: the third quarter goes on as the broker starts shutting down
          // (sends in flight when it goes), the last quarter once it is down (sends that fail).
          .map('gate', async (v) => {
            processed++;
            if (processed > (3 * N) / 4) await brokerIsDown;
            else if (processed > N / 2) await shutdownBegan;
            return v;
          })
          .to(topic<Item>('out'), { key: (v) => v.key }),
      ),
      { log, serde, logger: createLogger({ level: 'warn', destination: logLines }) },
    );
    defer(() => running.stop({ deadlineMs: 20_000 }));
    // Pause reasons as they change, in ms from the broker's shutdown, for a failure's message.
    const timeline: string[] = [];
    const down: { at?: number } = {};
    let lastReasons = '';
    const watch = setInterval(() => {
      const now = [...running.pausedFor].sort().join('+');
      if (now === lastReasons) return;
      lastReasons = now;
      timeline.push(`${down.at === undefined ? 'before' : `+${Math.round(performance.now() - down.at)}ms`}: [${now}] processed ${processed}`);
    }, 20);
    defer(() => clearInterval(watch));
    let failed: unknown;
    running.done.catch((err: unknown) => (failed = err));

    for (let i = 0; i < 12_000 && processed <= N / 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(processed > N / 2, `half the input processed before the outage (${processed} of ${N})`);
    const atDown = processed;
    down.at = performance.now();
    const stopping = kafka.down();
    beginShutdown();
    await stopping;
    timeline.push(`+${Math.round(performance.now() - down.at)}ms: broker stopped`);
    outageBegan();
    const reasons = new Set<string>();
    for (let i = 0; i < 50; i++) {
      for (const r of running.pausedFor) reasons.add(r);
      await new Promise((r) => setTimeout(r, 100));
    }
    await kafka.up();

    let read: string[];
    try {
      read = await readUntilAll(kafka.brokers, 'out', new Set(items.map((v) => v.id)));
    } catch (err) {
      // Say where the missing records stand: committed past them (lost) or not (stuck).
      const committed = await log.committedOffsets('outage', 'in');
      const ends = await log.endOffsets('in');
      for (const line of lines.slice(-15)) t.diagnostic(line.slice(0, 400));
      t.diagnostic(`input ends ${JSON.stringify([...ends])}, committed ${JSON.stringify([...committed])}, paused for ${JSON.stringify(running.pausedFor)}, processed ${processed}`);
      throw err;
    }
    assert.equal(failed, undefined, 'the topology did not fail');
    assert.ok(
      reasons.has(SINK_UNAVAILABLE),
      `paused while its outputs could not be produced (saw: ${[...reasons].join(', ') || 'none'}); pauses: ${timeline.join('; ')}; log: ${lines.slice(-8).join(' | ').slice(0, 3000)}`,
    );
    assert.deepEqual(running.pausedFor, [], 'fetching again');
    assert.equal(new Set(read).size, N, 'every input came out');
    t.diagnostic(`pauses: ${timeline.join('; ')}`);
    t.diagnostic(`outage after ${atDown} of ${N} records; ${read.length - N} duplicates in the output (at-least-once; sinks deduplicate by id)`);
    const ends = await log.endOffsets('in');
    for (let i = 0; i < 300; i++) {
      const committed = await log.committedOffsets('outage', 'in');
      if ([...ends].every(([p, end]) => committed.get(p) === end)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail('the group never committed the end of the input');
  });
}
