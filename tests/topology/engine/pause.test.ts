/**
 * Pause and resume (backpressure): an operator pause stops fetching until resumed; a sink that
 * cannot take the outputs pauses the topology by itself until they are written. Nothing is lost
 * or duplicated either way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';
import { topic } from '../../../runtime/engine/topology.ts';
import { topology } from '../../../runtime/engine/builder.ts';
import { runTopology, SINK_UNAVAILABLE } from '../../../runtime/engine/runner.ts';
import { JsonSerde } from '../../../runtime/engine/json-serde.ts';
import { createMemoryLog } from '../../../runtime/log/memory-log.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import type { EventLog } from '../../../runtime/ports.ts';
import { deferrer } from '../../fixtures/defer.ts';
import { recordsIn, settle, until, withProducers } from '../../fixtures/log-waits.ts';

interface Item {
  id: string;
}

const serde = new JsonSerde();

function passthrough(seen: string[]) {
  return topology('pausable', { errors: { retry: { initialDelayMs: 5, maxDelayMs: 20 } } }, (b) =>
    b
      .stream(topic<Item>('in'), { group: 'pausable' })
      .map('see', (v) => {
        seen.push(v.id);
        return v;
      })
      .to(topic<Item>('out'), { key: (v) => v.id }),
  );
}

async function send(log: EventLog, from: number, n: number, key?: string): Promise<void> {
  const producer = await log.producer();
  const items = Array.from({ length: n }, (_, i) => ({ id: `i${from + i}` }));
  await producer.send(await Promise.all(items.map(async (v) => ({ topic: 'in', key: key ?? v.id, value: await serde.encode('in', v) }))));
  await producer.close();
}

test('an operator pause stops fetching until resumed; in-flight work and offsets are unaffected', async (t) => {
  const defer = deferrer(t);
  const log = createMemoryLog({ defaultPartitions: 2, pollIntervalMs: 5 });
  defer(() => log.close());
  const metrics = new Metrics();
  const seen: string[] = [];
  const running = await runTopology(passthrough(seen), { log, serde, metrics });
  defer(() => running.stop());
  await send(log, 0, 10);
  await until('the first 10 are out', async () => (await recordsIn(log, 'out')) === 10);

  running.pause();
  assert.deepEqual(running.pausedFor, ['operator']);
  assert.match(await metrics.text(), /captionflow_topology_paused\{[^}]*topology="pausable"[^}]*\} 1/);
  await send(log, 10, 10);
  await settle();
  assert.equal(seen.length, 10, 'nothing fetched while paused');
  assert.equal(await recordsIn(log, 'out'), 10);

  running.pause(); // idempotent
  running.resume();
  assert.deepEqual(running.pausedFor, []);
  await until('all 20 are out', async () => (await recordsIn(log, 'out')) === 20);
  assert.equal(new Set(seen).size, 20);
  assert.equal(seen.length, 20, 'each record processed once');
  assert.match(await metrics.text(), /captionflow_topology_paused\{[^}]*topology="pausable"[^}]*\} 0/);
});

test('pause reasons add up: fetching restarts only when the last one is withdrawn', async (t) => {
  const defer = deferrer(t);
  const log = createMemoryLog({ defaultPartitions: 1, pollIntervalMs: 5 });
  defer(() => log.close());
  const seen: string[] = [];
  const running = await runTopology(passthrough(seen), { log, serde });
  defer(() => running.stop());
  running.pause('maintenance');
  running.pause();
  await send(log, 0, 3);
  running.resume();
  assert.deepEqual(running.pausedFor, ['maintenance']);
  await settle();
  assert.equal(seen.length, 0);
  running.resume('maintenance');
  await until('all 3 processed', () => seen.length === 3);
});

test('while the sink cannot take outputs the topology pauses itself, then resumes; every record out once', async (t) => {
  const defer = deferrer(t);
  const log = createMemoryLog({ defaultPartitions: 4, pollIntervalMs: 5 });
  defer(() => log.close());
  let sinkDown = true;
  let refused = 0;
  // The topology's log: the real one, except that producing fails while the sink is down.
  const flaky = withProducers(log, (inner) => ({
    send: (records) => {
      if (sinkDown) {
        refused++;
        return Promise.reject(new PipelineError(ErrorCodes.BROKER_UNAVAILABLE, 'sink down', { retriable: true }));
      }
      return inner.send(records);
    },
    close: () => inner.close(),
  }));
  const seen: string[] = [];
  const running = await runTopology(passthrough(seen), { log: flaky, serde });
  defer(() => running.stop());
  // One key, so one partition's batch is stuck in the sink and the other partitions are free to fetch.
  await send(log, 0, 6, 'one-key');
  await until('paused for the sink', () => running.pausedFor.includes(SINK_UNAVAILABLE));
  await until('the stuck batch is being retried', () => refused >= 2);
  const processedWhileDown = seen.length;
  await send(log, 6, 6);
  await settle();
  assert.equal(processedWhileDown, 6);
  assert.equal(seen.length, processedWhileDown, 'no new records fetched while the sink is down');

  sinkDown = false;
  await until('all 12 are out', async () => (await recordsIn(log, 'out')) === 12);
  await until('resumed', () => running.pausedFor.length === 0);
  // Exactly once downstream: replays would show as extra outputs; the retried batches were not re-processed.
  assert.equal(await recordsIn(log, 'out'), 12);
  assert.equal(new Set(seen).size, 12);
});

test('a producer that stays broken after the sink is back is replaced, and the stuck batch goes out', async (t) => {
  const defer = deferrer(t);
  const log = createMemoryLog({ defaultPartitions: 2, pollIntervalMs: 5 });
  defer(() => log.close());
  let sinkDown = true;
  let opened = 0;
  // Like kafkajs' idempotent producer after a broker restart: once a send failed, that producer
  // fails every later send too; a new producer works.
  const sticky = withProducers(log, (inner) => {
    opened++;
    let broken = false;
    return {
      send: (records) => {
        if (sinkDown || broken) {
          broken = true;
          return Promise.reject(new PipelineError(ErrorCodes.BROKER_UNAVAILABLE, 'out of order sequence', { retriable: false }));
        }
        return inner.send(records);
      },
      close: () => inner.close(),
    };
  });
  const seen: string[] = [];
  const running = await runTopology(passthrough(seen), { log: sticky, serde });
  defer(() => running.stop());
  await send(log, 0, 8);
  await until('paused for the sink', () => running.pausedFor.includes(SINK_UNAVAILABLE));
  sinkDown = false;
  await until('every record out', async () => (await recordsIn(log, 'out')) === 8);
  await until('resumed', () => running.pausedFor.length === 0);
  assert.ok(opened >= 2, `a new producer was opened (${opened})`);
  assert.equal(new Set(seen).size, 8);
});
