/**
 * Embedded log throughput: appends with each fsync policy, and a passthrough topology on the
 * disk log, each against the in-memory log in the same run (the bare baseline of the engine).
 * Run: `npx tsx tests/bench/disk-log.ts [--rounds N]` (CAPTIONFLOW_BENCH_FULL=1 for the full sizes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonSerde } from '../../runtime/engine/json-serde.ts';
import { runTopology } from '../../runtime/engine/runner.ts';
import { topic } from '../../runtime/engine/topology.ts';
import { topology } from '../../runtime/engine/builder.ts';
import { createDiskLog } from '../../runtime/log/disk-log.ts';
import { createMemoryLog } from '../../runtime/log/memory-log.ts';
import type { EventLog } from '../../runtime/ports.ts';
import { FULL, Samples, report, roundsArg, timed, type Row } from './harness.ts';

const N = FULL ? 200_000 : 20_000;
const BATCH = 100;
const payload = Buffer.alloc(512, 7);

async function appendAll(log: EventLog): Promise<void> {
  const producer = await log.producer();
  for (let i = 0; i < N; i += BATCH) {
    const records = [];
    for (let j = i; j < i + BATCH; j++) records.push({ topic: 'in', key: `k${j % 64}`, value: payload });
    await producer.send(records);
  }
}

async function passthrough(log: EventLog): Promise<number> {
  const t = topology('bench', { run: { maxBatchRecords: 500, maxInFlight: 64 } }, (b) =>
    b
      .stream(topic('in'), { group: 'bench' })
      .map('identity', (v) => v)
      .to(topic('out'), { key: () => null }),
  );
  // The records are raw bytes, not framed: a serde that passes them through keeps the figure about the log.
  const serde = new JsonSerde();
  serde.decode = (_t, bytes) => Promise.resolve({ schemaId: 0, value: bytes });
  serde.encode = (_t, v) => Promise.resolve(v as Buffer);
  return timed(async () => {
    const running = await runTopology(t, { log, serde });
    for (;;) {
      const ends = await log.endOffsets('out');
      const total = [...ends.values()].reduce((a, v) => a + Number(v), 0);
      if (total >= N) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await running.stop();
  });
}

const ROUNDS = roundsArg(3);
const dirs: string[] = [];
const disk = (fsync: 'always' | 'batch'): EventLog => {
  const dir = mkdtempSync(join(tmpdir(), 'cf-bench-log-'));
  dirs.push(dir);
  return createDiskLog({ dir, fsync, defaultPartitions: 3, pollIntervalMs: 5 });
};

const MEM_APPEND = 'append: memory log (baseline)';
const MEM_PASS = 'passthrough topology: memory log (baseline)';
const samples = new Samples();
try {
  // Fresh logs every round, the sides interleaved: each round appends and passes N records through each log.
  for (let r = 0; r < ROUNDS; r++) {
    const mem = createMemoryLog({ pollIntervalMs: 5 });
    const batchLog = disk('batch');
    const alwaysLog = disk('always');
    samples.add(MEM_APPEND, await timed(() => appendAll(mem)));
    samples.add('append: disk log, fsync=batch', await timed(() => appendAll(batchLog)));
    samples.add('append: disk log, fsync=always', await timed(() => appendAll(alwaysLog)));
    samples.add(MEM_PASS, await passthrough(mem));
    samples.add('passthrough topology: disk log, fsync=batch', await passthrough(batchLog));
    samples.add('passthrough topology: disk log, fsync=always', await passthrough(alwaysLog));
    await Promise.all([mem.close(), batchLog.close(), alwaysLog.close()]);
  }
  const row = (name: string, baseline?: string): Row => ({
    name,
    count: N,
    seconds: samples.get(name),
    unit: 'records',
    ...(baseline === undefined ? {} : { baseline }),
  });
  report(`embedded log, ${N} records of ${payload.length} B, batches of ${BATCH}`, [
    row(MEM_APPEND),
    row('append: disk log, fsync=batch', MEM_APPEND),
    row('append: disk log, fsync=always', MEM_APPEND),
    row(MEM_PASS),
    row('passthrough topology: disk log, fsync=batch', MEM_PASS),
    row('passthrough topology: disk log, fsync=always', MEM_PASS),
  ]);
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
