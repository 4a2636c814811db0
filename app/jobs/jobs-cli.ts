/**
 * `captionflow jobs list|run|history`: the jobs of a deployment from the command line. `run`
 * triggers a job in this process under the same catalog lease the replicas use, so it never
 * runs beside a replica's run of the same job (it is then reported as skipped).
 */
import { Command } from 'commander';
import type { App } from '../app.ts';
import { Scheduler } from './scheduler.ts';
import { standardJobs } from './standard-jobs.ts';
import { withDuration } from './admin-routes.ts';

/** A scheduler over the app's standard jobs (not started: no schedules, manual triggers only). */
export async function jobScheduler(app: App): Promise<{ scheduler: Scheduler; close: () => Promise<void> }> {
  const producer = await app.log.producer();
  const scheduler = new Scheduler({
    catalog: app.catalog,
    producer,
    serde: app.serde,
    clock: app.clock,
    logger: app.logger,
    metrics: app.metrics,
    log: app.log,
    topicName: app.topics.topic,
    leaseTtlMs: app.config.jobs.leaseTtlMs,
  });
  for (const job of standardJobs(app, app.config.jobs)) scheduler.register(job);
  return {
    scheduler,
    close: async () => {
      await scheduler.stop();
      await producer.close();
    },
  };
}

function parseParam(value: string, previous: Record<string, string>): Record<string, string> {
  const i = value.indexOf('=');
  if (i < 1) throw new TypeError(`--param wants key=value, got ${JSON.stringify(value)}`);
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

/** The `jobs` command; `open` opens the app (and closes it with the returned function). */
export function jobsCommand(open: () => Promise<{ app: App; close: () => Promise<void> }>): Command {
  const withScheduler = async (fn: (s: Scheduler) => Promise<unknown>): Promise<void> => {
    const { app, close } = await open();
    try {
      const s = await jobScheduler(app);
      try {
        process.stdout.write(`${JSON.stringify(await fn(s.scheduler), null, 2)}\n`);
      } finally {
        await s.close();
      }
    } finally {
      await close();
    }
  };
  const jobs = new Command('jobs').description('list, run and inspect the scheduled jobs (retrain, snapshots, consistency, reprocess, dead-letter replay…)');
  jobs
    .command('list')
    .description('the jobs with their schedule, triggers, current lease and last run')
    .action(() => withScheduler(async (s) => (await s.list()).map((j) => ({ ...j, lastRun: j.lastRun === null ? null : withDuration(j.lastRun) }))));
  jobs
    .command('run')
    .description('run a job now (skipped when a replica holds its lease)')
    .argument('<name>', 'the job')
    .option('--param <key=value>', 'a job parameter (repeatable), e.g. force=true, dryRun=true, code=IMAGE_DECODE_FAILED', parseParam, {})
    .action((name: string, opts: { param: Record<string, string> }) =>
      withScheduler(async (s) => {
        const o = await s.trigger(name, { trigger: 'manual', detail: 'cli', params: opts.param });
        if (o.status === 'failed') process.exitCode = 1;
        return { runId: o.runId, status: o.status, outputs: o.outputs, ...(o.error === undefined ? {} : { error: { code: o.error.code, message: o.error.message } }) };
      }),
    );
  jobs
    .command('history')
    .description('runs of a job, newest first: status, trigger, attempts, duration, log lines')
    .argument('<name>', 'the job')
    .option('--limit <n>', 'how many runs', (v) => Number.parseInt(v, 10), 20)
    .action((name: string, opts: { limit: number }) => withScheduler(async (s) => (await s.history(name, opts.limit)).map(withDuration)));
  return jobs;
}
