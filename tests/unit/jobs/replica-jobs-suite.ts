/**
 * The replica-safety cases of the scheduler, shared by the catalog adapters: two schedulers on
 * two catalog connections to one store (SQLite file, or a MongoDB/FerretDB database) behave as
 * two replicas of a deployment. `open` returns a fresh store's two connections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Catalog } from '../../../runtime/catalog/catalog.ts';
import { FakeClock } from '../../../runtime/clock.ts';
import { createMemoryLog } from '../../../runtime/log/memory-log.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { AvroSerde } from '../../../runtime/serde/avro-serde.ts';
import { EmbeddedSchemaRegistry } from '../../../runtime/serde/embedded-schema-registry.ts';
import { avroSerdePort } from '../../../runtime/engine/avro-serde-port.ts';
import { ErrorCodes } from '../../../schemas/errors.ts';
import { Scheduler, type JobSpec } from '../../../app/jobs/scheduler.ts';

/** Two connections to one fresh catalog store. */
export interface TwoCatalogs {
  readonly a: Catalog;
  readonly b: Catalog;
  close(): Promise<void>;
}

const TTL = 30_000;

async function replicas(open: () => Promise<TwoCatalogs>) {
  const cats = await open();
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 30));
  const log = createMemoryLog();
  const serde = avroSerdePort(new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' })));
  const metrics = new Metrics();
  const make = async (catalog: Catalog, holder: string) =>
    new Scheduler({ catalog, producer: await log.producer(), serde, clock, logger: silentLogger, metrics, holder, leaseTtlMs: TTL });
  const a = await make(cats.a, 'replica-a');
  const b = await make(cats.b, 'replica-b');
  /** Let pending continuations (catalog I/O included) run. */
  const settle = async (ms = 30) => new Promise((r) => setTimeout(r, ms));
  /** Advance time as it passes: in 1 s steps, letting heartbeats and catalog writes keep up. */
  const tick = async (ms: number) => {
    for (let done = 0; done < ms; done += 1000) {
      await clock.advance(Math.min(1000, ms - done));
      await settle(2);
    }
  };
  return {
    tick,
    cats,
    clock,
    metrics,
    a,
    b,
    settle,
    close: async () => {
      await a.stop();
      await b.stop();
      await log.close();
      await cats.close();
    },
  };
}

/** A promise with its resolver (Promise.withResolvers is Node 22+). */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A job whose runs block until released; counts runs. */
function gatedJob(name: string, extra: Partial<JobSpec> = {}) {
  const state = { runs: 0, release: () => {}, started: deferred() };
  let gate = deferred();
  state.release = () => gate.resolve();
  const job: JobSpec = {
    name,
    retry: { attempts: 1 },
    ...extra,
    run: async (ctx) => {
      state.runs++;
      ctx.logger.info({ replica: 'x' }, 'working');
      state.started.resolve();
      await gate.promise;
      gate = deferred();
      return { n: String(state.runs) };
    },
  };
  return { job, state };
}

/** Register the cases for one adapter. */
export function replicaJobCases(adapter: string, open: () => Promise<TwoCatalogs>, options: { skip?: string | false } = {}): void {
  const t = (name: string, fn: () => Promise<void>): void => void test(`${adapter}: ${name}`, { skip: options.skip ?? false }, fn);

  t('a lease has one holder; an expired one is taken over, and the old holder cannot renew it', async () => {
    const cats = await open();
    try {
      const l = cats.a.jobLeases;
      const r = cats.b.jobLeases;
      const first = await l.acquire('retrain', 'a', 'run-1', 1000, 10_000);
      assert.equal(first.acquired, true);
      const refused = await r.acquire('retrain', 'b', 'run-2', 1000, 10_500);
      assert.equal(refused.acquired, false);
      assert.equal(!refused.acquired && refused.heldBy?.holder, 'a');
      assert.ok(first.acquired && (await l.renew(first.lease, 1000, 10_600)) !== null, 'the holder renews while live');
      const taken = await r.acquire('retrain', 'b', 'run-2', 1000, 12_000);
      assert.ok(taken.acquired);
      assert.equal(taken.previous?.holder, 'a');
      assert.equal(taken.lease.epoch, 2);
      assert.equal(await l.renew({ ...first.lease, expiresAt: 99_999 }, 1000, 12_100), null, 'a later epoch exists: lost');
      await r.release(taken.lease, 12_200);
      const again = await l.acquire('retrain', 'a', 'run-3', 1000, 12_300);
      assert.ok(again.acquired && again.lease.epoch === 3, 'a released lease is free at once');
      assert.equal(await cats.a.jobLeases.claim({ job: 'retrain', key: 'slot:x', holder: 'a', runId: 'r', claimedAt: 1 }), true);
      assert.equal(await cats.b.jobLeases.claim({ job: 'retrain', key: 'slot:x', holder: 'b', runId: 'r', claimedAt: 2 }), false);
    } finally {
      await cats.close();
    }
  });

  t('two replicas racing for one epoch: exactly one insert wins', async () => {
    const cats = await open();
    try {
      const tries = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? cats.a : cats.b).jobLeases.acquire('snapshot', `r${i}`, `run-${i}`, 5000, 1000)),
      );
      assert.equal(tries.filter((x) => x.acquired).length, 1);
    } finally {
      await cats.close();
    }
  });

  t('a scheduled run and a manual trigger racing on two replicas make exactly one run', async () => {
    const s = await replicas(open);
    try {
      const ja = gatedJob('retrain', { cron: '* * * * *' });
      const jb = gatedJob('retrain', { cron: '* * * * *' });
      s.a.register(ja.job);
      s.b.register(jb.job);
      await s.a.start();
      await s.b.start();
      // The minute turns on both replicas while an operator triggers the job on replica b.
      const manualRun = s.b.trigger('retrain', { trigger: 'manual', detail: 'operator' });
      await s.tick(30_000);
      await Promise.race([ja.state.started.promise, jb.state.started.promise]);
      await s.settle();
      assert.equal(ja.state.runs + jb.state.runs, 1, 'one run across both replicas');
      ja.state.release();
      jb.state.release();
      const manual = await manualRun;
      await s.settle();
      const runs = await s.cats.a.jobRuns.listByName('retrain');
      assert.equal(runs.length, 1, 'one run recorded');
      assert.equal(runs[0]?.status, 'succeeded');
      assert.ok(runs[0].log.some((l) => l.includes('working')), 'the job log lines are kept with the run');
      assert.equal(runs[0]?.attempts, 1);
      if (manual.status === 'skipped') assert.match(manual.outputs.reason ?? '', /lease is held|claimed|in progress/);
    } finally {
      await s.close();
    }
  });

  t('the same cron slot on two replicas runs once even when the first run is already over', async () => {
    const s = await replicas(open);
    try {
      let runs = 0;
      const job: JobSpec = { name: 'snapshot', cron: '*/5 * * * *', run: () => Promise.resolve({ n: String(++runs) }) };
      s.a.register(job);
      s.b.register({ ...job });
      await s.a.start();
      await s.b.start();
      for (let i = 0; i < 2; i++) {
        await s.tick(5 * 60_000);
        await s.settle(30);
      }
      assert.equal(runs, 2, 'two slots, one run each');
      const history = await s.b.history('snapshot');
      assert.deepEqual(history.map((r) => r.trigger), ['schedule', 'schedule']);
      assert.ok(history.every((r) => r.triggerDetail?.startsWith('cron */5 * * * *')));
    } finally {
      await s.close();
    }
  });

  t('a lease left by a dead replica expires and another replica takes over, marking the old run failed', async () => {
    const s = await replicas(open);
    try {
      const { job, state } = gatedJob('reprocess');
      s.b.register(job);
      // Replica "dead" took the lease and recorded a run, then was SIGKILLed (no heartbeats).
      const dead = await s.cats.a.jobLeases.acquire('reprocess', 'dead', 'run-dead', TTL, s.clock.now());
      assert.ok(dead.acquired);
      await s.cats.a.jobRuns.upsert({ id: 'run-dead', name: 'reprocess', status: 'running', startedAt: new Date(s.clock.now()).toISOString() });
      const early = await s.b.trigger('reprocess');
      assert.equal(early.status, 'skipped');
      await s.clock.advance(TTL + 1);
      const later = s.b.trigger('reprocess');
      await state.started.promise;
      state.release();
      assert.equal((await later).status, 'succeeded');
      const old = await s.cats.b.jobRuns.get('run-dead');
      assert.equal(old?.status, 'failed');
      assert.equal(old?.error?.code, ErrorCodes.JOB_LEASE_LOST);
      assert.equal(await s.metrics.recordCount({ topology: 'jobs', step: 'reprocess', outcome: 'lease_expired' }), 1);
    } finally {
      await s.close();
    }
  });

  t('a run whose lease is lost stops, fails with JOB_LEASE_LOST and is counted', async () => {
    const s = await replicas(open);
    try {
      let aborted: unknown;
      s.a.register({
        name: 'retrain',
        retry: { attempts: 3 },
        run: (ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => {
              aborted = ctx.signal.reason;
              reject(ctx.signal.reason as Error);
            });
          }),
      });
      const run = s.a.trigger('retrain');
      await s.settle();
      const held = await s.cats.b.jobLeases.current('retrain');
      assert.equal(held?.holder, 'replica-a');
      // Replica b sees the lease as expired (say replica a was paused past its TTL) and takes it.
      const stolen = await s.cats.b.jobLeases.acquire('retrain', 'replica-b', 'run-b', TTL, held.expiresAt + 1);
      assert.ok(stolen.acquired);
      // The heartbeat is armed once the run has started, which a slow catalog may delay past
      // the first step of the clock: step again (within the stolen lease's TTL) until it runs.
      let settled = false;
      const finished = run.finally(() => {
        settled = true;
      });
      for (let beat = 0; beat < 3 && !settled; beat++) {
        await s.clock.advance(TTL / 3 + 1);
        await s.settle();
      }
      const outcome = await finished;
      assert.equal(outcome.status, 'failed');
      assert.equal(outcome.error?.code, ErrorCodes.JOB_LEASE_LOST);
      assert.ok(aborted !== undefined, 'the job saw its signal aborted');
      assert.equal(await s.metrics.recordCount({ topology: 'jobs', step: 'retrain', outcome: ErrorCodes.JOB_LEASE_LOST }), 1);
      const rec = await s.cats.a.jobRuns.get(outcome.runId);
      assert.equal(rec?.attempts, 1, 'a lost lease is not retried');
      assert.equal((await s.cats.a.jobLeases.current('retrain'))?.holder, 'replica-b', 'the loser does not release the new holder');
    } finally {
      await s.close();
    }
  });
}
