/**
 * The captionflow command line: `pipeline` (the main job), `run` (long-running topologies and
 * HTTP edges), `describe` (print topology graphs), `import` (bulk datasets).
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../config.ts';
import { openApp } from '../app.ts';
import { createLogger } from '../logger.ts';
import { describe } from '../engine/topology.ts';
import { createHttpServer } from '../http/server.ts';
import { normalizeTopology } from '../../topologies/normalize.ts';
import { curateTopology } from '../../topologies/curate.ts';
import { importCommand } from '../../services/import/cli.ts';
import { ingestDeps, runPipelineJob, startLakeTopologies } from './pipeline-job.ts';
import type { Topology } from '../engine/topology.ts';

const topologies: Record<string, Topology> = {
  normalize: normalizeTopology as unknown as Topology,
  curate: curateTopology as unknown as Topology,
};

const program = new Command('captionflow').description('Stream-processing MLOps pipeline for image captioning').showHelpAfterError();

program
  .command('pipeline')
  .description('the main job: import data (synthetic sample by default), normalize and curate it, snapshot a dataset version')
  .addOption(new Option('--sample <n>', 'synthetic scenes to generate and import').default(200).argParser((v) => Number.parseInt(v, 10)))
  .addOption(new Option('--seed <n>', 'seed of the synthetic scenes').default(1).argParser((v) => Number.parseInt(v, 10)))
  .option('--dataset <name>', 'dataset name of the snapshot', 'default')
  .action(async (opts: { sample: number; seed: number; dataset: string }) => {
    const config = loadConfig();
    const app = await openApp(config);
    try {
      const summary = await runPipelineJob(app, { sample: opts.sample, seed: opts.seed, datasetName: opts.dataset });
      app.logger.info({ summary }, 'pipeline finished');
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    } finally {
      await app.close();
    }
  });

program
  .command('run')
  .description('run the lake topologies and the HTTP edge until SIGTERM/SIGINT')
  .action(async () => {
    const config = loadConfig();
    const app = await openApp(config);
    const running = await startLakeTopologies(app);
    const http = createHttpServer({ logger: app.logger, metrics: app.metrics, apiKeys: config.http.apiKeys });
    await http.listen({ host: config.http.host, port: config.http.port });
    let stopping = false;
    const shutdown = async (signal: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      app.logger.info({ signal }, 'shutting down');
      await http.close();
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
  .description('print the graph of one or all topologies')
  .argument('[name]', `one of: ${Object.keys(topologies).join(', ')}`)
  .action((name: string | undefined) => {
    const selected = name === undefined ? Object.values(topologies) : [topologies[name]];
    if (selected[0] === undefined) throw new Error(`unknown topology ${name}; known: ${Object.keys(topologies).join(', ')}`);
    process.stdout.write(`${selected.map((t) => describe(t!)).join('\n\n')}\n`);
  });

program.addCommand(
  importCommand(async () => {
    const app = await openApp(loadConfig());
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
