/**
 * A consumer process for the crash test: runs a topology from `input` into an idempotent SQLite
 * sink (INSERT OR IGNORE by event id) and also logs every write attempt, so the test can tell
 * replays happened and still changed nothing. Killed with SIGKILL at random moments by the test.
 */
import Database from 'better-sqlite3';
import { topic } from '../../../runtime/engine/topology.ts';
import { topology } from '../../../runtime/engine/builder.ts';
import { runTopology } from '../../../runtime/engine/runner.ts';
import { JsonSerde } from '../../../runtime/engine/json-serde.ts';
import { createDiskLog } from '../../../runtime/log/disk-log.ts';
import type { KafkaClientName } from '../../../runtime/log/kafka-client.ts';
import { testKafkaLog } from '../../fixtures/kafka-clients.ts';
import type { EventLog } from '../../../runtime/ports.ts';

const [mode, where, inputTopic, sinkPath, client = 'kafkajs'] = process.argv.slice(2) as [string, string, string, string, KafkaClientName?];
const sink = new Database(sinkPath);
sink.pragma('journal_mode = WAL');
sink.exec('CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, n INTEGER NOT NULL); CREATE TABLE IF NOT EXISTS attempts (id TEXT NOT NULL)');
const insert = sink.prepare('INSERT OR IGNORE INTO items (id, n) VALUES (?, ?)');
const attempt = sink.prepare('INSERT INTO attempts (id) VALUES (?)');

const log: EventLog =
  mode === 'disk'
    ? createDiskLog({ dir: where, fsync: 'batch', pollIntervalMs: 20 })
    : testKafkaLog(client, { brokers: where.split(','), sessionTimeoutMs: 6_000, clientId: 'crash-test' });

type Item = { id: string; n: number };
const t = topology('crash-test', { run: { maxBatchRecords: 50, maxInFlight: 8 } }, (b) =>
  b
    .stream(topic<Item>(inputTopic), { group: `crash-${inputTopic}` })
    .map('slow', async (v) => {
      // A little work per record so kills land in the middle of batches.
      await new Promise((r) => setTimeout(r, 1));
      return v;
    })
    .effect('sqlite', {
      target: 'sqlite: items (INSERT OR IGNORE by id)',
      key: (v) => v.id,
      write: (v) => {
        attempt.run(v.id);
        insert.run(v.id, v.n);
        return Promise.resolve();
      },
    })
    .to(topic<Item>(`${inputTopic}.out`), { key: (v) => v.id }),
);

const running = await runTopology(t, { log, serde: new JsonSerde() });
process.send?.('started');
process.on('SIGTERM', () => {
  void running.stop({ deadlineMs: 5_000 }).then(() => log.close()).then(() => process.exit(0));
});
await running.done;
