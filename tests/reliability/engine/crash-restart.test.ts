import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { JsonSerde } from '../../../runtime/engine/json-serde.ts';
import { createDiskLog } from '../../../runtime/log/disk-log.ts';
import { kafkaClients, testKafkaLog } from '../../fixtures/kafka-clients.ts';
import type { EventLog } from '../../../runtime/ports.ts';

const N = 1500;
const KILLS = 4;
const worker = new URL('./crash-worker.ts', import.meta.url).pathname;

function start(args: string[]): Promise<ChildProcess> {
  const child = fork(worker, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function sinkState(path: string): { rows: number; distinct: number; attempts: number } {
  const db = new Database(path, { readonly: true });
  try {
    const rows = (db.prepare('SELECT COUNT(*) AS c FROM items').get() as { c: number }).c;
    const distinct = (db.prepare('SELECT COUNT(DISTINCT n) AS c FROM items').get() as { c: number }).c;
    const attempts = (db.prepare('SELECT COUNT(*) AS c FROM attempts').get() as { c: number }).c;
    return { rows, distinct, attempts };
  } catch {
    return { rows: 0, distinct: 0, attempts: 0 };
  } finally {
    db.close();
  }
}

async function produceInputs(log: EventLog, topicName: string): Promise<void> {
  const serde = new JsonSerde();
  await log.ensureTopics([{ name: topicName, partitions: 3 }]);
  const producer = await log.producer();
  for (let i = 0; i < N; i += 250) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 250); j++) batch.push({ topic: topicName, key: `k${j % 37}`, value: await serde.encode(topicName, { id: `e${j}`, n: j }) });
    await producer.send(batch);
  }
  await producer.close();
}

async function crashLoop(args: string[], sinkPath: string): Promise<{ rows: number; distinct: number; attempts: number }> {
  for (let k = 0; k < KILLS; k++) {
    const child = await start(args);
    // Kill at a random moment once some progress was made.
    const target = Math.floor(((k + 1) * N) / (KILLS + 2));
    for (let i = 0; i < 600 && sinkState(sinkPath).rows < target; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, Math.random() * 80));
    await kill9(child);
  }
  const last = await start(args);
  for (let i = 0; i < 1200 && sinkState(sinkPath).rows < N; i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise<void>((resolve) => {
    last.once('exit', () => resolve());
    last.kill('SIGTERM');
  });
  return sinkState(sinkPath);
}

test(`disk log: a consumer SIGKILLed ${KILLS} times mid-stream delivers every input exactly once into the idempotent sink`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cf-crash-disk-'));
  try {
    const logDir = join(dir, 'log');
    const log = createDiskLog({ dir: logDir });
    await produceInputs(log, 'crash-in');
    await log.close();
    const state = await crashLoop(['disk', logDir, 'crash-in', join(dir, 'sink.sqlite')], join(dir, 'sink.sqlite'));
    assert.equal(state.rows, N, 'every input reached the sink');
    assert.equal(state.distinct, N, 'no input reached it twice');
    assert.ok(state.attempts >= N);
    t.diagnostic(`sink writes including replays: ${state.attempts} for ${N} inputs`);
    // After the graceful stop every offset is committed: nothing would be replayed again.
    const reopened = createDiskLog({ dir: logDir });
    const ends = await reopened.endOffsets('crash-in');
    for (const [p, end] of ends) assert.equal(reopened.storage.committed('crash-crash-in', 'crash-in', p), Number(end));
    const out = reopened.readAll('crash-in.out');
    assert.ok(out.length >= N, 'the output topic has every input (at least once)');
    assert.equal(new Set(out.map((r) => r.key!.toString())).size, N);
    await reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const client of kafkaClients()) {
  test(`kafka [${client}]: a consumer SIGKILLed ${KILLS} times mid-stream delivers every input exactly once into the idempotent sink`, async (t) => {
    const brokers = process.env.CF_KAFKA_BROKERS;
    if (brokers === undefined) {
      t.skip('CF_KAFKA_BROKERS is not set (run through `npm test`, which starts Kafka)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'cf-crash-kafka-'));
    const topicName = `crash-in-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
    const log = testKafkaLog(client, { brokers: brokers.split(',') });
    try {
      await produceInputs(log, topicName);
      const sinkPath = join(dir, 'sink.sqlite');
      const state = await crashLoop(['kafka', brokers, topicName, sinkPath, client], sinkPath);
      assert.equal(state.rows, N, 'every input reached the sink');
      assert.equal(state.distinct, N, 'no input reached it twice');
      t.diagnostic(`sink writes including replays: ${state.attempts} for ${N} inputs`);
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
