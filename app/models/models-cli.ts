/**
 * `captionflow models list|show|promote|rollback|import`: the model registry from the command
 * line. Promotions and rollbacks by hand emit `model.promoted` like the gated promotion does,
 * so serving replicas hot-swap; imports register a Hugging Face ONNX captioner as `candidate`.
 */
import { Command, Option } from 'commander';
import type { App } from '../app.ts';
import { promoteVersion, rollbackAlias, PROMOTABLE_ALIASES, type PromotableAlias } from '../../runtime/lake/model-registry.ts';
import { loadEvaluationReport } from '../../runtime/lake/model-reports.ts';
import { trainDepsOf } from '../jobs/standard-jobs.ts';
import { formatModelReport } from './report-text.ts';
import { importModel } from './import-model.ts';
import { formatModelVersions, modelVersions, score } from './model-versions.ts';

/** Whether to print JSON: the command's or the program's `--json`. */
function jsonWanted(command: Command): boolean {
  return command.optsWithGlobals<{ json?: boolean }>().json === true;
}

const aliasOption = (what: string) => new Option('--alias <alias>', what).choices([...PROMOTABLE_ALIASES]).default('champion');

/**
 * The `models` command. `open` opens the app with the model name overridden (`--model`), and
 * closes it with the returned function.
 */
export function modelsCommand(open: (modelName?: string) => Promise<{ app: App; close: () => Promise<void> }>): Command {
  const withApp = async (modelName: string | undefined, fn: (app: App) => Promise<void>): Promise<void> => {
    const { app, close } = await open(modelName);
    try {
      await fn(app);
    } finally {
      await close();
    }
  };
  const withRegistry = (modelName: string | undefined, fn: (app: App, deps: ReturnType<typeof trainDepsOf>) => Promise<void>): Promise<void> =>
    withApp(modelName, async (app) => {
      const producer = await app.log.producer();
      try {
        await fn(app, trainDepsOf(app, producer));
      } finally {
        await producer.close();
      }
    });
  const modelOption = () => new Option('--model <name>', 'model name (default: the configured one, CAPTIONFLOW_MODEL_NAME)');

  const models = new Command('models').description('registered model versions: list, show, promote, roll back, import a Hugging Face ONNX captioner');

  models
    .command('list')
    .description('versions newest first, with their aliases (champion, challenger, candidate), source (trained, imported), status, test scores and creation time')
    .addOption(modelOption())
    .option('--json', 'print JSON', false)
    .action(async (opts: { model?: string }, command: Command) => {
      await withApp(opts.model, async (app) => {
        const entries = await modelVersions(app.catalog, app.config.models.name);
        process.stdout.write(jsonWanted(command) ? `${JSON.stringify({ model: app.config.models.name, versions: entries }, null, 2)}\n` : formatModelVersions(app.config.models.name, entries));
      });
    });

  models
    .command('show')
    .description('a model version, its gate verdict and its evaluation report (by length, by concept, curves, samples, worst captions)')
    .argument('<version>', 'model version, or an alias of the configured model (champion, challenger, candidate)')
    .addOption(modelOption())
    .option('--json', 'print the stored report as JSON', false)
    .action(async (version: string, opts: { model?: string }, command: Command) => {
      await withApp(opts.model, async (app) => {
        const model = (await app.catalog.models.get(version)) ?? (await app.catalog.models.byAlias(app.config.models.name, version));
        if (model === null) throw new Error(`no model version or alias ${version}`);
        const report = await loadEvaluationReport(app.objects, model);
        process.stdout.write(jsonWanted(command) ? `${JSON.stringify({ model, report }, null, 2)}\n` : formatModelReport(model, report));
      });
    });

  models
    .command('promote')
    .description('point an alias (champion by default) at a version, without the gate (an administrator\'s act), and emit model.promoted so serving replicas hot-swap')
    .argument('<version>', 'model version, or an alias naming it (candidate, challenger)')
    .addOption(aliasOption('the alias to move'))
    .addOption(modelOption())
    .option('--reason <text>', 'why, recorded in the model.promoted event', 'manual promotion')
    .action(async (version: string, opts: { alias: PromotableAlias; model?: string; reason: string }) => {
      await withRegistry(opts.model, async (app, deps) => {
        const name = app.config.models.name;
        const target = (await app.catalog.models.get(version)) ?? (await app.catalog.models.byAlias(name, version));
        if (target === null) throw new Error(`no version or alias ${version} of model ${name}`);
        const d = await promoteVersion(deps, name, target.id, opts.alias, opts.reason);
        process.stdout.write(`${d.reason}\n`);
      });
    });

  models
    .command('rollback')
    .description('point an alias (champion by default) back at the version it pointed to before, and emit model.promoted')
    .addOption(aliasOption('the alias to move back'))
    .addOption(modelOption())
    .action(async (opts: { alias: PromotableAlias; model?: string }) => {
      await withRegistry(opts.model, async (app, deps) => {
        const d = await rollbackAlias(deps, app.config.models.name, opts.alias);
        process.stdout.write(`${d.reason}\n`);
      });
    });

  models
    .command('import')
    .description('register a captioner in the Hugging Face ONNX encoder/decoder layout (encoder_model.onnx, decoder_model.onnx, tokenizer.json, preprocessor_config.json, generation_config.json): validate, copy into the registry, evaluate on the frozen test split, alias candidate')
    .argument('<dir>', 'the model folder')
    .addOption(modelOption())
    .option('--dataset <id>', 'the dataset version whose test split scores it (default: the champion\'s, else the newest)')
    .addOption(new Option('--strategy <s>', 'how the evaluation decodes (default: beam 5, as trained versions)').choices(['greedy', 'beam']))
    .addOption(new Option('--beam-size <n>', 'beam width of the evaluation').argParser((v) => Number.parseInt(v, 10)))
    .option('--json', 'print JSON', false)
    .action(async (dir: string, opts: { model?: string; dataset?: string; strategy?: 'greedy' | 'beam'; beamSize?: number }, command: Command) => {
      await withRegistry(opts.model, async (app, deps) => {
        const decoding = opts.strategy === undefined ? undefined : { strategy: opts.strategy, ...(opts.beamSize === undefined ? {} : { beamSize: opts.beamSize }) };
        const out = await importModel(deps, { dir, name: app.config.models.name, ...(opts.dataset === undefined ? {} : { datasetId: opts.dataset }), ...(decoding === undefined ? {} : { decoding }) });
        const summary = { version: out.model.id, alias: out.alias, status: out.model.status, dataset: out.evaluation.datasetId, split: out.evaluation.split, n: out.evaluation.n, decoding: out.evaluation.decoding, metrics: out.evaluation.metrics, report: out.report?.key ?? null, ignored: out.ignored };
        if (jsonWanted(command)) {
          process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
          return;
        }
        process.stdout.write(
          `imported ${summary.version} as ${summary.alias}: ${summary.n} test images of ${summary.dataset}, CIDEr-D ${score(summary.metrics.ciderD, 3)}, BLEU-4 ${score(summary.metrics.bleu4, 4)}\n` +
            `next: captionflow models show ${summary.version}; captionflow models promote ${summary.version}\n`,
        );
      });
    });

  return models;
}
