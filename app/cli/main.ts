/**
 * The captionflow command line: `pipeline` (the main job), `run` (long-running topologies and
 * HTTP edges), `describe` (print topology graphs), `import` (bulk datasets).
 */
import { Command, Option } from 'commander';
import { loadConfig, type Config } from '../../runtime/config.ts';
import { openApp } from '../app.ts';
import { createLogger } from '../../runtime/logger.ts';
import { describe } from '../../runtime/engine/describe.ts';
import { describePipeline, pipelineMermaid } from '../../runtime/engine/pipeline.ts';
import { createHttpServer } from '../../runtime/http/server.ts';
import { registerTopologyAdminRoutes } from '../../runtime/http/topology-admin.ts';
import { importCommand } from '../../services/import/cli.ts';
import { registerIngestRoutes } from '../../services/ingest/routes.ts';
import { DEFAULT_INGEST_LIMITS } from '../../services/ingest/limits.ts';
import { ingestDeps, runPipelineJob } from '../pipeline-job.ts';
import { pipeline, startTopologies } from '../pipeline.ts';
import { retrain, type RetrainOptions, type RetrainOutcome } from '../models/retrain.ts';
import type { App } from '../app.ts';
import type { Logger } from '../../runtime/logger.ts';
import { Scheduler } from '../jobs/scheduler.ts';
import { standardJobs, trainDepsOf } from '../jobs/standard-jobs.ts';
import { rollbackChampion } from '../../runtime/lake/model-registry.ts';
import { loadEvaluationReport } from '../../runtime/lake/model-reports.ts';
import { formatModelReport } from '../models/report-text.ts';

/** CLI commands print their result on stdout; their logs go to stderr. */
function cliLogger(config: Config): Logger {
  return createLogger({ level: config.logLevel, destination: process.stderr });
}

function retrainOptions(app: App, o: { preset: 'tiny' | 'default'; dataset: string; minNew: number; margin: number; force: boolean; epochs?: number }): RetrainOptions {
  return {
    modelName: app.config.models.name,
    datasetName: o.dataset,
    config: o.preset,
    ...(o.epochs === undefined ? {} : { epochs: o.epochs }),
    minNewItems: o.minNew,
    trainOnAugmentations: app.config.models.trainOnAugmentations,
    gate: { metric: 'ciderD', margin: o.margin },
    force: o.force,
    onProgress: (e) => {
      if (e.event === 'progress') app.logger.info({ progress: 'train', ...e }, 'training');
      if (e.event === 'epoch') app.logger.info({ curve: 'train', ...e }, 'epoch done');
    },
  };
}

/** The part of a retrain outcome worth printing. */
function brief(outcome: RetrainOutcome): Record<string, unknown> {
  const scores = (e?: { metrics: Record<string, number>; n: number }) => (e === undefined ? undefined : { n: e.n, ...e.metrics });
  return {
    status: outcome.status,
    reason: outcome.reason,
    dataset: outcome.datasetId,
    candidate: outcome.candidate,
    champion: outcome.champion,
    trainSeconds: outcome.trainSeconds,
    candidateTest: scores(outcome.candidateEval),
    championTest: scores(outcome.championEval),
    candidateOldTest: scores(outcome.candidateOldEval),
    championOldTest: scores(outcome.championOldEval),
    paired: outcome.paired,
    report: outcome.report?.key,
  };
}

const program = new Command('captionflow').description('Stream-processing MLOps pipeline for image captioning').showHelpAfterError();

program
  .command('pipeline')
  .description('the main job: import data (synthetic sample by default), normalize and curate it, snapshot a dataset version')
  .addOption(new Option('--sample <n>', 'synthetic scenes to generate and import').default(200).argParser((v) => Number.parseInt(v, 10)))
  .addOption(new Option('--seed <n>', 'seed of the synthetic scenes').default(1).argParser((v) => Number.parseInt(v, 10)))
  .option('--dataset <name>', 'dataset name of the snapshot', 'default')
  .addOption(new Option('--train <preset>', 'then run the retrain loop (train, evaluate, promote) with this model preset').choices(['none', 'tiny', 'default']).default('none'))
  .action(async (opts: { sample: number; seed: number; dataset: string; train: 'none' | 'tiny' | 'default' }) => {
    const config = loadConfig();
    const app = await openApp(config, { logger: cliLogger(config) });
    try {
      const summary = await runPipelineJob(app, { sample: opts.sample, seed: opts.seed, datasetName: opts.dataset });
      app.logger.info({ summary }, 'pipeline finished');
      let training: unknown;
      if (opts.train !== 'none') {
        const producer = await app.log.producer();
        try {
          training = brief(await retrain(trainDepsOf(app, producer), retrainOptions(app, { preset: opts.train, dataset: opts.dataset, minNew: 100, margin: config.jobs.promotionMargin, force: false })));
        } finally {
          await producer.close();
        }
      }
      process.stdout.write(`${JSON.stringify({ ...summary, ...(training === undefined ? {} : { training }) }, null, 2)}\n`);
    } finally {
      await app.close();
    }
  });

program
  .command('train')
  .description('one pass of the incremental-learning loop: snapshot, (fine-)tune, evaluate, promote or reject')
  .addOption(new Option('--config <preset>', 'model size').choices(['tiny', 'default']).default('default'))
  .addOption(new Option('--epochs <n>', 'override the preset epochs').argParser((v) => Number.parseInt(v, 10)))
  .option('--model <name>', 'model name', 'captioner')
  .option('--dataset <name>', 'dataset name', 'default')
  .addOption(new Option('--min-new <n>', 'new curated items needed since the champion').default(100).argParser((v) => Number.parseInt(v, 10)))
  .addOption(new Option('--margin <x>', 'CIDEr-D margin the candidate must beat the champion by').default(0.01).argParser(Number.parseFloat))
  .option('--force', 'retrain even without enough new data', false)
  .action(async (opts: { config: 'tiny' | 'default'; epochs?: number; model: string; dataset: string; minNew: number; margin: number; force: boolean }) => {
    const config = loadConfig({ overrides: { 'models.name': opts.model } });
    const app = await openApp(config, { logger: cliLogger(config) });
    const producer = await app.log.producer();
    try {
      const outcome = await retrain(trainDepsOf(app, producer), retrainOptions(app, { preset: opts.config, dataset: opts.dataset, minNew: opts.minNew, margin: opts.margin, force: opts.force, ...(opts.epochs === undefined ? {} : { epochs: opts.epochs }) }));
      process.stdout.write(`${JSON.stringify(brief(outcome), null, 2)}\n`);
    } finally {
      await producer.close();
      await app.close();
    }
  });

program
  .command('rollback')
  .description('point the champion alias back at the previous champion')
  .option('--model <name>', 'model name', 'captioner')
  .action(async (opts: { model: string }) => {
    const config = loadConfig({ overrides: { 'models.name': opts.model } });
    const app = await openApp(config, { logger: cliLogger(config) });
    const producer = await app.log.producer();
    try {
      const d = await rollbackChampion(trainDepsOf(app, producer), opts.model);
      process.stdout.write(`${d.reason}\n`);
    } finally {
      await producer.close();
      await app.close();
    }
  });

program
  .command('run')
  .description('run the lake topologies and the HTTP edge until SIGTERM/SIGINT')
  .action(async () => {
    const config = loadConfig();
    const app = await openApp(config);
    const running = await startTopologies(app);
    const http = createHttpServer({
      logger: app.logger,
      metrics: app.metrics,
      apiKeys: config.http.apiKeys,
      readiness: { catalog: async () => void (await app.catalog.images.list({}, { limit: 1 })) },
    });
    const producer = await app.log.producer();
    await registerIngestRoutes(http, { ingest: ingestDeps(app, producer), catalog: app.catalog, limits: DEFAULT_INGEST_LIMITS });
    registerTopologyAdminRoutes(http, running);
    await http.listen({ host: config.http.host, port: config.http.port });
    app.logger.info({ url: `http://${config.http.host}:${config.http.port}` }, 'HTTP edge listening');
    const scheduler = new Scheduler({ catalog: app.catalog, producer, serde: app.serde, clock: app.clock, logger: app.logger, metrics: app.metrics });
    for (const job of standardJobs(app, config.jobs)) scheduler.register(job);
    scheduler.start();
    let stopping = false;
    const shutdown = async (signal: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      app.logger.info({ signal }, 'shutting down');
      await http.close();
      await scheduler.stop();
      await producer.close();
      await Promise.all(running.map((r) => r.stop({ deadlineMs: config.shutdownDeadlineMs })));
      await app.close();
      process.exit(0);
    };
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
    const failed = await Promise.race(running.map((r) => r.done.then(() => null, (err: unknown) => ({ name: r.name, err }))));
    if (failed !== null) {
      app.logger.fatal({ topology: failed.name, err: (failed.err as Error).message }, 'topology failed');
      await shutdown('topology-failed');
    }
  });

program
  .command('describe')
  .description('print the whole pipeline (doors, topics, topologies with their effects and state stores, jobs), or one topology')
  .argument('[topology]', `one of: ${pipeline.topologies.map((t) => t.topology.name).join(', ')}`)
  .option('--mermaid', 'print the pipeline as a Mermaid flowchart instead of text', false)
  .addHelpText('after', '\nExamples:\n  captionflow describe\n  captionflow describe curate\n  captionflow describe --mermaid > pipeline.mmd')
  .action((name: string | undefined, opts: { mermaid: boolean }) => {
    if (name === undefined) {
      process.stdout.write(`${opts.mermaid ? pipelineMermaid(pipeline) : describePipeline(pipeline)}\n`);
      return;
    }
    const one = pipeline.topologies.find((t) => t.topology.name === name);
    if (one === undefined) throw new Error(`unknown topology ${name}; known: ${pipeline.topologies.map((t) => t.topology.name).join(', ')}`);
    process.stdout.write(`${opts.mermaid ? pipelineMermaid({ doors: [], topologies: [one], jobs: [] }) : describe(one.topology)}\n`);
  });

const models = program.command('models').description('registered model versions');
models
  .command('show')
  .description('a model version, its gate verdict and its evaluation report (by length, by concept, curves, samples, worst captions)')
  .argument('<version>', 'model version, or an alias of the configured model (champion, challenger)')
  .option('--json', 'print the stored report as JSON', false)
  .action(async (version: string, opts: { json: boolean }) => {
    const config = loadConfig();
    const app = await openApp(config, { logger: cliLogger(config) });
    try {
      const model = (await app.catalog.models.get(version)) ?? (await app.catalog.models.byAlias(config.models.name, version));
      if (model === null) throw new Error(`no model version or alias ${version}`);
      const report = await loadEvaluationReport(app.objects, model);
      process.stdout.write(opts.json ? `${JSON.stringify({ model, report }, null, 2)}\n` : formatModelReport(model, report));
    } finally {
      await app.close();
    }
  });

program.addCommand(
  importCommand(async () => {
    const config = loadConfig();
    const app = await openApp(config, { logger: cliLogger(config) });
    const producer = await app.log.producer();
    return {
      deps: ingestDeps(app, producer),
      close: async () => {
        await producer.close();
        await app.close();
      },
    };
  }),
);

program.parseAsync(process.argv).catch((err: unknown) => {
  createLogger().fatal({ err: (err as Error).message, code: (err as { code?: string }).code }, 'captionflow failed');
  process.stderr.write(`captionflow: ${(err as Error).message}\n`);
  process.exit(1);
});
