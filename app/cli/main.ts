/**
 * The captionflow command line: `pipeline` (the main job), `run` (long-running topologies and
 * HTTP edges), `serve` and `query` (serving and Query Data Service replicas), `describe` (print topology graphs), `import` (bulk datasets).
 */
import { Command, Option } from 'commander';
import { loadConfig, type Config } from '../../runtime/config.ts';
import { openApp } from '../app.ts';
import { createLogger, defaultLogFormat, type LogFormat } from '../../runtime/logger.ts';
import { describe } from '../../runtime/engine/describe.ts';
import { describePipeline, pipelineMermaid } from '../../runtime/engine/pipeline.ts';
import { importCommand } from '../../services/import/cli.ts';
import { ingestDeps, runPipelineJob } from '../pipeline-job.ts';
import { trainingProgress } from './progress.ts';
import { pipelineSummaryTable, type PipelineResult } from './summary.ts';
import { pipeline } from '../pipeline.ts';
import { localApiKeys, QUERY_REPLICA, SERVING_REPLICA, startSystem, type RunningSystem } from '../system.ts';
import { whatToTry } from './summary.ts';
import { retrain, type RetrainOptions, type RetrainOutcome } from '../models/retrain.ts';
import type { App } from '../app.ts';
import type { Logger } from '../../runtime/logger.ts';
import { trainDepsOf } from '../jobs/standard-jobs.ts';
import { jobsCommand } from '../jobs/jobs-cli.ts';
import { rollbackChampion } from '../../runtime/lake/model-registry.ts';
import { dlqCommand, lakeCommand, sqlCommand } from './lake-commands.ts';
import { servingOptions } from '../serving.ts';
import { readFile } from 'node:fs/promises';
import { directoryModelSource, registryModelSource } from '../../services/serving/model-source.ts';
import { startServing } from '../../services/serving/serving.ts';
import { modelsCommand } from '../models/models-cli.ts';

/** CLI commands print their result on stdout; their logs go to stderr. */
function cliLogger(config: Config): Logger {
  return createLogger({ level: config.logLevel, destination: process.stderr, format: logFormat(process.stderr) });
}

/** JSON results with `--json` or when stdout is not a terminal (scripts), tables for people. */
function wantsJson(stream: NodeJS.WritableStream): boolean {
  return logFormat(stream) === 'json';
}

/** JSON lines with `--json` (or when the stream is not a terminal), readable lines otherwise. */
function logFormat(stream: NodeJS.WritableStream): LogFormat {
  return program.opts<{ json?: boolean }>().json === true ? 'json' : defaultLogFormat(stream);
}

function retrainOptions(app: App, training: ReturnType<typeof trainingProgress>, o: { preset: 'tiny' | 'default'; dataset: string; minNew: number; margin: number; force: boolean; epochs?: number }): RetrainOptions {
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
      training.onEvent(e);
      // The learning curve, as the trainer reports it epoch by epoch (train loss, validation metrics).
      if (e.event === 'epoch') app.logger.info({ curve: 'train', ...e }, 'epoch done');
    },
  };
}

/** The part of a retrain outcome worth printing. */
function brief(outcome: RetrainOutcome) {
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

/** The main job: sample → import → normalize → curate → snapshot, then (optionally) train, evaluate, promote. */
async function mainJob(app: App, o: { sample: number; seed: number; dataset: string; train: 'none' | 'tiny' | 'default' }): Promise<PipelineResult> {
  const summary = await runPipelineJob(app, { sample: o.sample, seed: o.seed, datasetName: o.dataset });
  app.logger.info({ summary }, 'pipeline finished');
  if (o.train === 'none') return summary;
  const producer = await app.log.producer();
  const bar = trainingProgress(app.logger);
  try {
    const outcome = await retrain(trainDepsOf(app, producer), retrainOptions(app, bar, { preset: o.train, dataset: o.dataset, minNew: 100, margin: app.config.jobs.promotionMargin, force: false }));
    return { ...summary, training: brief(outcome) };
  } finally {
    bar.stop();
    await producer.close();
  }
}

/** A result as a table for people, JSON for scripts. */
function printResult(result: PipelineResult): void {
  process.stdout.write(wantsJson(process.stdout) ? `${JSON.stringify(result, null, 2)}\n` : pipelineSummaryTable(result));
}

/** Keep a started system running until SIGINT/SIGTERM (drain, then exit 0) or a topology fails (exit 1). */
async function runUntilSignal(app: App, system: RunningSystem): Promise<void> {
  let stopping = false;
  const shutdown = async (reason: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ reason }, 'shutting down: draining');
    await system.stop();
    await app.close();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  const failed = await system.failed;
  if (failed !== null) {
    app.logger.fatal({ topology: failed.name, err: (failed.err as Error).message }, 'topology failed');
    await shutdown('topology-failed', 1);
  }
}

const program = new Command('captionflow')
  .description('Stream-processing MLOps pipeline for image captioning')
  .option('--json', 'log JSON lines even on a terminal (the default when output is not a terminal)')
  .showHelpAfterError();

program
  .command('pipeline')
  .description('the main job: import data (synthetic sample by default), normalize and curate it, snapshot a dataset version')
  .addHelpText('after', '\nExamples:\n  captionflow pipeline                       # 200 synthetic scenes through the lake\n  captionflow pipeline --sample 2600 --train default   # what npm start runs\n  captionflow pipeline --json > summary.json')
  .addOption(new Option('--sample <n>', 'synthetic scenes to generate and import').default(200).argParser((v) => Number.parseInt(v, 10)))
  .addOption(new Option('--seed <n>', 'seed of the synthetic scenes').default(1).argParser((v) => Number.parseInt(v, 10)))
  .option('--dataset <name>', 'dataset name of the snapshot', 'default')
  .addOption(new Option('--train <preset>', 'then run the retrain loop (train, evaluate, promote) with this model preset').choices(['none', 'tiny', 'default']).default('none'))
  .action(async (opts: { sample: number; seed: number; dataset: string; train: 'none' | 'tiny' | 'default' }) => {
    const config = loadConfig();
    const app = await openApp(config, { logger: cliLogger(config) });
    try {
      printResult(await mainJob(app, { sample: opts.sample, seed: opts.seed, dataset: opts.dataset, train: opts.train }));
    } finally {
      await app.close();
    }
  });

program
  .command('train')
  .description('one pass of the incremental-learning loop: snapshot, (fine-)tune, evaluate, promote or reject')
  .addHelpText('after', '\nExamples:\n  captionflow train                          # retrain if 100+ new curated items arrived\n  captionflow train --force --config tiny --epochs 2')
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
    const bar = trainingProgress(app.logger);
    try {
      const outcome = await retrain(trainDepsOf(app, producer), retrainOptions(app, bar, { preset: opts.config, dataset: opts.dataset, minNew: opts.minNew, margin: opts.margin, force: opts.force, ...(opts.epochs === undefined ? {} : { epochs: opts.epochs }) }));
      bar.stop();
      process.stdout.write(`${JSON.stringify(brief(outcome), null, 2)}\n`);
    } finally {
      bar.stop();
      await producer.close();
      await app.close();
    }
  });

program
  .command('rollback')
  .description('point the champion alias back at the previous champion (an alias of `captionflow models rollback`)')
  .addHelpText('after', '\nExamples:\n  captionflow rollback\n  captionflow rollback --model captioner')
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
  .addHelpText('after', '\nExamples:\n  captionflow run                                         # embedded: data in .data/\n  CAPTIONFLOW_MODE=distributed captionflow run            # Kafka, registry, S3, MongoDB from CAPTIONFLOW_* env')
  .action(async () => {
    const config = loadConfig();
    const app = await openApp(config, { logger: createLogger({ level: config.logLevel, format: logFormat(process.stdout) }) });
    await runUntilSignal(app, await startSystem(app));
  });

program
  .command('start')
  .description('the first run and everyday use: on a fresh data directory, sample → curate → train → promote; then keep running (topologies, HTTP edge, scheduler) until Ctrl-C — the next start resumes and retrains only on new data')
  .addOption(new Option('--sample <n>', 'synthetic scenes of the first run').default(2600).argParser((v) => Number.parseInt(v, 10)))
  .addOption(new Option('--seed <n>', 'seed of the synthetic scenes').default(1).argParser((v) => Number.parseInt(v, 10)))
  .addOption(new Option('--train <preset>', 'model preset of the first training').choices(['none', 'tiny', 'default']).default('default'))
  .option('--once', 'stop after the first-run job (for scripts: what `captionflow pipeline` does)', false)
  .addHelpText('after', '\nExamples:\n  npm start                         # = captionflow start\n  captionflow start --once --json   # the main job only, a JSON summary\n  captionflow start --sample 300 --train tiny')
  .action(async (opts: { sample: number; seed: number; train: 'none' | 'tiny' | 'default'; once: boolean }) => {
    const config = loadConfig();
    const app = await openApp(config, { logger: cliLogger(config) });
    printResult(await mainJob(app, { sample: opts.sample, seed: opts.seed, dataset: 'default', train: opts.train }));
    if (opts.once) {
      await app.close();
      return;
    }
    const keys = localApiKeys(app);
    const system = await startSystem(app, { apiKeys: keys.keys });
    process.stdout.write(whatToTry(system.url, keys.file));
    await runUntilSignal(app, system);
  });

program
  .command('serve')
  .description('a caption serving replica: POST /v1/captions with micro-batched ONNX inference and hot model swap on model.promoted; no lake topologies')
  .addHelpText('after', '\nExamples:\n  captionflow serve                                            # port from CAPTIONFLOW_HTTP_PORT\n  CAPTIONFLOW_MODE=distributed CAPTIONFLOW_HTTP_PORT=8081 captionflow serve   # a replica behind nginx')
  .action(async () => {
    const config = loadConfig();
    const app = await openApp(config, { logger: createLogger({ level: config.logLevel, format: logFormat(process.stdout) }) });
    await runUntilSignal(app, await startSystem(app, SERVING_REPLICA));
  });

program
  .command('query')
  .description('a Query Data Service replica: the /v1/lake routes, the dashboard at / and lake gauges on /metrics; no lake topologies, no jobs, no serving, no ingest doors')
  .addHelpText('after', '\nExamples:\n  captionflow query                                            # port from CAPTIONFLOW_HTTP_PORT\n  CAPTIONFLOW_MODE=distributed CAPTIONFLOW_HTTP_PORT=8083 captionflow query   # beside run and serve replicas')
  .action(async () => {
    const config = loadConfig();
    const app = await openApp(config, { logger: createLogger({ level: config.logLevel, format: logFormat(process.stdout) }) });
    await runUntilSignal(app, await startSystem(app, QUERY_REPLICA));
  });

program
  .command('caption')
  .description('caption image files with the served model (or a bundle folder) and print JSON lines')
  .argument('<files...>', 'image files')
  .option('--model-dir <dir>', 'caption with this bundle folder instead of the registry')
  .option('--version <version>', 'a pinned registry version instead of the alias')
  .addOption(new Option('--strategy <s>', 'decoding').choices(['greedy', 'beam']))
  .addOption(new Option('--beam-size <n>', 'beam width').argParser((v) => Number.parseInt(v, 10)))
  .addOption(new Option('--max-length <n>', 'decoder length').argParser((v) => Number.parseInt(v, 10)))
  .addOption(new Option('--no-repeat-ngram-size <n>', 'forbid repeated n-grams of this size').argParser((v) => Number.parseInt(v, 10)))
  .addOption(new Option('--repetition-penalty <x>', '> 1 discourages repeated words').argParser(Number.parseFloat))
  .action(async (files: string[], opts: { modelDir?: string; version?: string; strategy?: 'greedy' | 'beam'; beamSize?: number; maxLength?: number; noRepeatNgramSize?: number; repetitionPenalty?: number }) => {
    const config = loadConfig();
    const app = await openApp(config, { logger: cliLogger(config) });
    try {
      const source = opts.modelDir !== undefined ? directoryModelSource(opts.modelDir) : registryModelSource(app.catalog, app.objects, config.models.name);
      const serving = await startServing({ pool: app.pool, metrics: app.metrics, logger: app.logger, source, alias: config.serving.alias, options: servingOptions(config) });
      try {
        const { modelDir: _m, version, ...decode } = opts;
        const images = await Promise.all(files.map(async (f) => new Uint8Array(await readFile(f))));
        const results = await serving.service.caption({ images, decode, ...(version === undefined ? {} : { model: { version } }) });
        let failed = 0;
        results.forEach((r, i) => {
          if (!r.ok) failed++;
          const line = r.ok ? { file: files[i], caption: r.text, score: r.score, modelVersion: r.modelVersion } : { file: files[i], error: { code: r.error.code, message: r.error.message }, modelVersion: r.modelVersion };
          process.stdout.write(`${JSON.stringify(line)}\n`);
        });
        if (failed > 0) process.exitCode = 2;
      } finally {
        await serving.close();
      }
    } finally {
      await app.close();
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

program.addCommand(
  modelsCommand(async (modelName) => {
    const config = loadConfig(modelName === undefined ? {} : { overrides: { 'models.name': modelName } });
    const app = await openApp(config, { logger: cliLogger(config) });
    return { app, close: () => app.close() };
  }),
);

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

program.addCommand(sqlCommand());
program.addCommand(dlqCommand());
program.addCommand(lakeCommand());
program.addCommand(
  jobsCommand(async () => {
    const config = loadConfig();
    const app = await openApp(config, { logger: cliLogger(config) });
    return { app, close: () => app.close() };
  }),
);

/** Examples in `--help` of the commands defined in their own modules. */
const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  caption: ['captionflow caption photo.jpg other.png', 'captionflow caption photo.jpg --strategy beam --beam-size 5 --no-repeat-ngram-size 2', 'captionflow caption photo.jpg --model-dir ./my-onnx-captioner'],
  sql: [`captionflow sql "select status, count(*) from images group by 1"`, `captionflow sql --json "select * from dataset_items limit 5"`],
  dlq: ['captionflow dlq list', 'captionflow dlq show <id>', 'captionflow dlq replay --code OBJECT_NOT_FOUND'],
  lake: ['captionflow lake snapshot', 'captionflow lake export-parquet <dataset-id> --out gold.parquet', 'captionflow lake export <dataset-id> --format webdataset --out shards/ --shard-size 1000'],
  jobs: ['captionflow jobs list', 'captionflow jobs run retrain', 'captionflow jobs history retrain'],
  models: ['captionflow models list', 'captionflow models show champion', 'captionflow models import ./my-onnx-captioner', 'captionflow models promote candidate', 'captionflow models rollback'],
};
for (const [name, lines] of Object.entries(EXAMPLES)) {
  program.commands.find((c) => c.name() === name)?.addHelpText('after', `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`);
}

program.parseAsync(process.argv).catch((err: unknown) => {
  createLogger().fatal({ err: (err as Error).message, code: (err as { code?: string }).code }, 'captionflow failed');
  process.stderr.write(`captionflow: ${(err as Error).message}\n`);
  process.exit(1);
});
