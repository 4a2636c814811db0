import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobRun } from '../../../schemas/generated/types.ts';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';
import { FakeClock } from '../../../runtime/clock.ts';
import { createMemoryLog } from '../../../runtime/log/memory-log.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { Scheduler } from '../../../app/jobs/scheduler.ts';
import { tempLake } from '../../topology/lake/harness.ts';

async function setup() {
  const lake = await tempLake();
  const log = createMemoryLog();
  const clock = new FakeClock();
  const scheduler = new Scheduler({ catalog: lake.deps.catalog, producer: await log.producer(), serde: lake.serde, clock, logger: silentLogger });
  const events = async () => Promise.all(log.readAll('job.run').map(async (r) => (await lake.serde.decode('job.run', r.value!)).value as JobRun));
  return { lake, log, clock, scheduler, events, close: async () => { await scheduler.stop(); await log.close(); await lake.close(); } };
}

test('a scheduled job runs every interval and each run is recorded in the catalog and as job.run events', async () => {
  const s = await setup();
  let runs = 0;
  s.scheduler.register({ name: 'compact', everyMs: 60_000, run: () => Promise.resolve({ n: String(++runs) }) });
  await s.scheduler.start();
  await s.clock.advance(60_000);
  await s.clock.advance(60_000);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(runs, 2);
  const statuses = (await s.events()).map((e) => `${e.trigger}:${e.status}`);
  assert.deepEqual(statuses, ['schedule:started', 'schedule:succeeded', 'schedule:started', 'schedule:succeeded']);
  const recorded = await s.lake.deps.catalog.jobRuns.listByName('compact');
  assert.equal(recorded.length, 2);
  assert.ok(recorded.every((r) => r.status === 'succeeded'));
  await s.close();
});

test('retriable failures are retried with backoff; a permanent failure is recorded with its code', async () => {
  const s = await setup();
  let calls = 0;
  s.scheduler.register({
    name: 'flaky',
    retry: { attempts: 3, initialDelayMs: 1000 },
    run: () => {
      calls++;
      if (calls < 3) return Promise.reject(new PipelineError(ErrorCodes.STORAGE_UNAVAILABLE, 'down', { retriable: true }));
      return Promise.resolve({ ok: 'yes' });
    },
  });
  s.scheduler.register({ name: 'broken', run: () => Promise.reject(new PipelineError(ErrorCodes.TRAINING_FAILED, 'diverged')) });
  const flaky = s.scheduler.trigger('flaky');
  for (let i = 0; i < 500 && calls < 3; i++) {
    await s.clock.advance(4000);
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.equal((await flaky).status, 'succeeded');
  const broken = await s.scheduler.trigger('broken');
  assert.equal(broken.status, 'failed');
  assert.equal(broken.error?.code, ErrorCodes.TRAINING_FAILED);
  const run = await s.lake.deps.catalog.jobRuns.get(broken.runId);
  assert.equal(run?.status, 'failed');
  assert.equal(run?.error?.code, ErrorCodes.TRAINING_FAILED);
  await s.close();
});

test('one run of a job at a time: a trigger during a run is recorded as skipped', async () => {
  const s = await setup();
  let release: (() => void) | undefined;
  s.scheduler.register({ name: 'train', run: () => new Promise((r) => (release = () => r({}))) });
  const first = s.scheduler.trigger('train', { trigger: 'event', detail: '100 new images' });
  for (let i = 0; i < 500 && release === undefined; i++) await new Promise((r) => setTimeout(r, 2));
  const second = await s.scheduler.trigger('train', { trigger: 'event' });
  assert.equal(second.status, 'skipped');
  release!();
  assert.equal((await first).status, 'succeeded');
  assert.ok((await s.events()).some((e) => e.status === 'skipped' && e.jobName === 'train'));
  await s.close();
});
