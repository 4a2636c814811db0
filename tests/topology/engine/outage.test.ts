/**
 * Dependency outages: a record that fails because the object store, catalog, broker or schema
 * registry is down is not at fault. It waits (retrying with backoff, past `retry.attempts`) while
 * the topology stops fetching, and goes through once the dependency is back — never to the
 * dead-letter topic. Other errors keep their attempts-then-dead-letter supervision.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';
import { topic, type OutagePolicy } from '../../../runtime/engine/topology.ts';
import { topology } from '../../../runtime/engine/builder.ts';
import { DEPENDENCY_UNAVAILABLE, runTopology } from '../../../runtime/engine/runner.ts';
import { JsonSerde } from '../../../runtime/engine/json-serde.ts';
import { createMemoryLog } from '../../../runtime/log/memory-log.ts';
import type { LocalEventLog } from '../../../runtime/log/local-log.ts';
import type { Serde } from '../../../runtime/ports.ts';
import { deferrer } from '../../fixtures/defer.ts';
import { recordsIn, settle, until } from '../../fixtures/log-waits.ts';

interface Item {
  id: string;
}

const json = new JsonSerde();
const RETRY = { attempts: 3, initialDelayMs: 2, maxDelayMs: 10 };

/** A dependency the test switches off and on; its error is what an adapter throws when it is down. */
class Dependency {
  down = false;
  constructor(private readonly error: () => PipelineError) {}
  use(): void {
    if (this.down) throw this.error();
  }
}

const storageDown = (): PipelineError => new PipelineError(ErrorCodes.STORAGE_UNAVAILABLE, 'object store unreachable', { retriable: true });

function topologyOver(dep: Dependency, seen: string[], outages?: OutagePolicy) {
  return topology('outage', { errors: { retry: RETRY, ...(outages === undefined ? {} : { outages }) } }, (b) =>
    b
      .stream(topic<Item>('in'), { group: 'outage' })
      .map('store', (v) => {
        seen.push(v.id);
        dep.use();
        return v;
      })
      .to(topic<Item>('out'), { key: (v) => v.id }),
  );
}

async function send(log: LocalEventLog, ids: readonly string[], key?: string, serde: Serde = json): Promise<void> {
  const producer = await log.producer();
  await producer.send(await Promise.all(ids.map(async (id) => ({ topic: 'in', key: key ?? id, value: await serde.encode('in', { id }) }))));
  await producer.close();
}

test('a record waits out a storage outage past its retry attempts; the topology stops fetching meanwhile', async (t) => {
  const defer = deferrer(t);
  const log = createMemoryLog({ defaultPartitions: 4, pollIntervalMs: 5 });
  defer(() => log.close());
  const storage = new Dependency(storageDown);
  const seen: string[] = [];
  const running = await runTopology(topologyOver(storage, seen), { log, serde: json });
  defer(() => running.stop());

  storage.down = true;
  await send(log, ['a1', 'a2'], 'one-key');
  await until('paused for the dependency', () => running.pausedFor.includes(DEPENDENCY_UNAVAILABLE));
  await until('retried well past the attempts', () => seen.filter((id) => id === 'a1').length > RETRY.attempts * 3);
  await send(log, ['b1', 'b2', 'b3', 'b4', 'b5', 'b6']);
  await settle();
  assert.equal(seen.filter((id) => id.startsWith('b')).length, 0, 'nothing new fetched during the outage');
  assert.equal(await recordsIn(log, 'dead-letter'), 0, 'an outage is not the record’s fault');

  storage.down = false;
  await until('every record out', async () => (await recordsIn(log, 'out')) === 8);
  await until('resumed', () => running.pausedFor.length === 0);
  assert.equal(await recordsIn(log, 'dead-letter'), 0);
  assert.equal(await recordsIn(log, 'out'), 8, 'each once');
});

test('with outages: "retry" an outage is retried like any retriable error, then dead-lettered', async (t) => {
  const defer = deferrer(t);
  const log = createMemoryLog({ defaultPartitions: 1, pollIntervalMs: 5 });
  defer(() => log.close());
  const storage = new Dependency(storageDown);
  storage.down = true;
  const seen: string[] = [];
  const running = await runTopology(topologyOver(storage, seen, 'retry'), { log, serde: json });
  defer(() => running.stop());
  await send(log, ['a']);
  await until('dead-lettered', async () => (await recordsIn(log, 'dead-letter')) === 1);
  assert.equal(seen.length, RETRY.attempts);
  assert.deepEqual(running.pausedFor, []);
});

test('a retriable error that is not an outage keeps its attempts, then the dead-letter topic', async (t) => {
  const defer = deferrer(t);
  const log = createMemoryLog({ defaultPartitions: 1, pollIntervalMs: 5 });
  defer(() => log.close());
  const flaky = new Dependency(() => new PipelineError('INFERENCE_TIMEOUT', 'model too slow', { retriable: true }));
  flaky.down = true;
  const seen: string[] = [];
  const running = await runTopology(topologyOver(flaky, seen), { log, serde: json });
  defer(() => running.stop());
  await send(log, ['a']);
  await until('dead-lettered', async () => (await recordsIn(log, 'dead-letter')) === 1);
  assert.equal(seen.length, RETRY.attempts);
});

test('a schema registry outage while decoding is waited out; bad bytes are still dead-lettered at once', async (t) => {
  const defer = deferrer(t);
  const log = createMemoryLog({ defaultPartitions: 1, pollIntervalMs: 5 });
  defer(() => log.close());
  const registry = new Dependency(() => new PipelineError(ErrorCodes.SCHEMA_REGISTRY_UNAVAILABLE, 'registry unreachable', { retriable: true }));
  let decodeCalls = 0;
  const serde: Serde = {
    encode: (name, value) => json.encode(name, value),
    decode: (name, bytes) => {
      decodeCalls++;
      registry.use();
      return json.decode(name, bytes);
    },
  };
  const seen: string[] = [];
  const running = await runTopology(topologyOver(new Dependency(storageDown), seen), { log, serde });
  defer(() => running.stop());
  registry.down = true;
  await send(log, ['a'], undefined, json);
  await until('waiting on the registry', () => running.pausedFor.includes(DEPENDENCY_UNAVAILABLE) && decodeCalls > RETRY.attempts * 2);
  registry.down = false;
  await until('decoded and out', async () => (await recordsIn(log, 'out')) === 1);
  assert.equal(await recordsIn(log, 'dead-letter'), 0);

  const producer = await log.producer();
  await producer.send([{ topic: 'in', key: 'bad', value: Buffer.from('{not json') }]);
  await producer.close();
  await until('bad bytes dead-lettered', async () => (await recordsIn(log, 'dead-letter')) === 1);
  assert.deepEqual(seen, ['a']);
});

test('shutdown during an outage leaves the waiting record uncommitted; after a restart it goes through once', async (t) => {
  const defer = deferrer(t);
  const log = createMemoryLog({ defaultPartitions: 1, pollIntervalMs: 5 });
  defer(() => log.close());
  const storage = new Dependency(storageDown);
  storage.down = true;
  const seen: string[] = [];
  const first = await runTopology(topologyOver(storage, seen), { log, serde: json });
  await send(log, ['a']);
  await until('waiting', () => first.pausedFor.includes(DEPENDENCY_UNAVAILABLE));
  await first.stop({ deadlineMs: 200 });
  assert.equal(await recordsIn(log, 'out'), 0);
  assert.deepEqual([...(await log.committedOffsets('outage', 'in')).values()].map(Number).filter((o) => o > 0), [], 'nothing committed');

  storage.down = false;
  const second = await runTopology(topologyOver(storage, seen), { log, serde: json });
  defer(() => second.stop());
  await until('out after restart', async () => (await recordsIn(log, 'out')) === 1);
  await settle();
  assert.equal(await recordsIn(log, 'out'), 1);
  assert.equal(await recordsIn(log, 'dead-letter'), 0);
});
