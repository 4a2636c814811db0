/**
 * The lake commands of the CLI: `captionflow sql "<query>"`, `captionflow dlq list|show|replay`,
 * `captionflow lake export-parquet <datasetId>` (the export the Trino catalogs read),
 * `captionflow lake export <datasetId> --format webdataset|parquet` and `captionflow lake snapshot`. Each prints JSON with `--json`, a short table otherwise.
 */
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig } from '../../runtime/config.ts';
import { createLogger } from '../../runtime/logger.ts';
import { exportDatasetParquet } from '../../runtime/lake/lake-sql.ts';
import { getDataset, snapshotDataset } from '../../runtime/lake/datasets.ts';
import { DEFAULT_SHARD_SIZE, exportWebDataset } from '../../runtime/lake/webdataset.ts';
import type { Split } from '../../runtime/catalog/catalog.ts';
import { progress } from './progress.ts';
import type { DeadLetterQuery } from '../../runtime/catalog/catalog.ts';
import { runLakeSql } from '../../services/query/sql-tables.ts';
import { replayDeadLetters } from '../../services/query/dead-letter-replay.ts';
import { openApp, type App } from '../app.ts';

async function withApp<T>(run: (app: App) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const app = await openApp(config, {
    logger: createLogger({
      level: config.logLevel === 'info' ? 'warn' : config.logLevel,
      destination: process.stderr,
    }),
  });
  try {
    return await run(app);
  } finally {
    await app.close();
  }
}

function print(value: unknown, json: boolean, table?: () => string): void {
  process.stdout.write(json || table === undefined ? `${JSON.stringify(value, null, 2)}\n` : `${table()}\n`);
}

function rowsTable(rows: readonly Record<string, unknown>[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  return [cols.join('\t'), ...rows.map((r) => cols.map((c) => cell(r[c])).join('\t'))].join('\n');
}

interface DlqFilterOptions {
  code?: string;
  topic?: string;
  topology?: string;
  from?: string;
  to?: string;
}

function filterOf(o: DlqFilterOptions): Omit<DeadLetterQuery, 'state'> {
  return {
    ...(o.code === undefined ? {} : { code: o.code }),
    ...(o.topic === undefined ? {} : { topic: o.topic }),
    ...(o.topology === undefined ? {} : { topology: o.topology }),
    ...(o.from === undefined ? {} : { from: o.from }),
    ...(o.to === undefined ? {} : { to: o.to }),
  };
}

const filterOptions = (c: Command): Command =>
  c
    .option('--code <code>', 'error code (e.g. IMAGE_DECODE_FAILED)')
    .option('--topic <topic>', 'original topic')
    .option('--topology <name>', 'the topology that dead-lettered it')
    .option('--from <iso>', 'last failure at or after')
    .option('--to <iso>', 'last failure before');

/** `captionflow sql "<query>"`. */
export function sqlCommand(): Command {
  return new Command('sql')
    .description(
      'one read-only SELECT over the lake: images, captions, dead_letters (catalog) and dataset_items (gold Parquet)',
    )
    .argument('<query>', 'a single SELECT')
    .addOption(
      new Option('--max-rows <n>', 'row limit').default(1000).argParser((v) => Number.parseInt(v, 10)),
    )
    .addOption(
      new Option('--timeout-ms <n>', 'statement timeout')
        .default(10_000)
        .argParser((v) => Number.parseInt(v, 10)),
    )
    .option('--json', 'print JSON', false)
    .action(async (query: string, o: { maxRows: number; timeoutMs: number; json: boolean }) => {
      await withApp(async (app) => {
        const rows = await runLakeSql({ store: app.objects, catalog: app.catalog }, query, {
          cacheDir: join(app.dataDir, 'cache', 'sql'),
          maxRows: o.maxRows,
          timeoutMs: o.timeoutMs,
        });
        print(rows, o.json, () => rowsTable(rows));
      });
    });
}

/** `captionflow dlq list|show|replay`. */
export function dlqCommand(): Command {
  const dlq = new Command('dlq').description(
    'dead letters: list, show one with its original bytes, replay after the cause is fixed',
  );
  filterOptions(dlq.command('list').description('dead letters, newest failure first'))
    .addOption(
      new Option('--state <state>', 'open, replayed or all')
        .choices(['open', 'replayed', 'all'])
        .default('open'),
    )
    .addOption(
      new Option('--limit <n>', 'most letters').default(100).argParser((v) => Number.parseInt(v, 10)),
    )
    .option('--json', 'print JSON', false)
    .action(async (o: DlqFilterOptions & { state: 'open'; limit: number; json: boolean }) => {
      await withApp(async (app) => {
        const page = await app.catalog.deadLetters.list(
          { ...filterOf(o), state: o.state },
          { limit: o.limit },
        );
        const items = page.items.map(({ originalValue: _v, originalHeaders: _h, ...rest }) => rest);
        print({ items, next: page.next }, o.json, () =>
          rowsTable(
            items.map((d) => ({
              id: d.id,
              code: d.errorCode,
              topology: d.topology,
              topic: d.originalTopic,
              key: d.imageKey,
              lastFailureAt: d.lastFailureAt,
              replayedAt: d.replayedAt,
            })),
          ),
        );
      });
    });
  dlq
    .command('show')
    .description('one dead letter with its original key, value and headers (base64)')
    .argument('<id>')
    .option('--json', 'print JSON', false)
    .action(async (id: string, o: { json: boolean }) => {
      await withApp(async (app) => {
        const letter = await app.catalog.deadLetters.get(id);
        if (letter === null) throw new Error(`dead letter ${id} not found`);
        print({ ...letter, replay: await app.catalog.deadLetters.replayOf(id) }, true);
        void o;
      });
    });
  filterOptions(
    dlq
      .command('replay')
      .description(
        'produce the original records back to their topics (ids, or every open letter matching the filter)',
      ),
  )
    .argument('[ids...]', 'dead-letter ids')
    .option('--json', 'print JSON', false)
    .action(async (ids: string[], o: DlqFilterOptions & { json: boolean }) => {
      await withApp(async (app) => {
        const producer = await app.log.producer();
        try {
          const result = await replayDeadLetters(
            { catalog: app.catalog, producer, clock: app.clock },
            ids.length > 0 ? { ids } : { filter: filterOf(o) },
            'cli',
          );
          print(result, o.json, () => `replayed ${result.replayed.length}, skipped ${result.skipped.length}`);
        } finally {
          await producer.close();
        }
      });
    });
  return dlq;
}

/** `captionflow lake export-parquet|snapshot`. */
export function lakeCommand(): Command {
  const lake = new Command('lake').description('dataset versions and their gold tables');
  lake
    .command('export-parquet')
    .description(
      "write a dataset version's gold metadata as Parquet; --upload puts it at gold/tables/dataset_items/dataset_id=<id>/items.parquet for Trino",
    )
    .argument('<datasetId>', 'ds-…')
    .option('--out <path>', 'the Parquet file to write (default <datasetId>.parquet)')
    .option('--upload', 'also upload it to the lake for Trino', false)
    .option('--json', 'print JSON', false)
    .action(async (id: string, o: { out?: string; upload: boolean; json: boolean }) => {
      await withApp(async (app) => {
        const result = await exportDatasetParquet(
          { store: app.objects, catalog: app.catalog },
          id,
          o.out ?? `${id}.parquet`,
          { upload: o.upload },
        );
        print(
          result,
          o.json,
          () =>
            `${result.rows} rows → ${result.path}${result.key === null ? '' : ` (uploaded as ${result.key})`}`,
        );
      });
    });
  lake
    .command('export')
    .description(
      'export a dataset version: --format webdataset writes tar shards <out>/<id>-000000.tar… (image, captions .txt, metadata .json per sample); parquet as export-parquet',
    )
    .argument('<datasetId>', 'ds-…')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['webdataset', 'parquet'])
        .makeOptionMandatory(),
    )
    .option('--out <path>', 'webdataset: the folder of the shards (default <datasetId>); parquet: the file')
    .addOption(
      new Option('--shard-size <n>', 'webdataset: samples per shard')
        .default(DEFAULT_SHARD_SIZE)
        .argParser((v) => Number.parseInt(v, 10)),
    )
    .addOption(new Option('--split <split>', 'webdataset: only this split').choices(['train', 'val', 'test']))
    .option('--json', 'print JSON', false)
    .action(
      async (
        id: string,
        o: {
          format: 'webdataset' | 'parquet';
          out?: string;
          shardSize: number;
          split?: Split;
          json: boolean;
        },
        command: Command,
      ) => {
        // `--json` after the subcommand is also the program's global option: either one counts.
        const json = command.optsWithGlobals<{ json?: boolean }>().json === true;
        await withApp(async (app) => {
          const lake = { store: app.objects, catalog: app.catalog };
          if (o.format === 'parquet') {
            const result = await exportDatasetParquet(lake, id, o.out ?? `${id}.parquet`);
            print(result, json, () => `${result.rows} rows → ${result.path}`);
            return;
          }
          const manifest = await getDataset(lake, id);
          if (manifest === null) throw new Error(`dataset version ${id} not found`);
          // A bar on a terminal, else progress lines on stderr (at info, whatever the app logs at).
          const bar = progress(
            'webdataset',
            manifest.items.length,
            createLogger({ level: 'info', destination: process.stderr }),
          );
          try {
            const result = await exportWebDataset(lake, manifest, o.out ?? id, {
              shardSize: o.shardSize,
              ...(o.split === undefined ? {} : { split: o.split }),
              onProgress: (done, total) => {
                bar.setTotal(total);
                bar.update(done);
              },
            });
            bar.stop();
            const { shards: _s, ...plan } = result.plan;
            print(
              { ...plan, files: result.files },
              json,
              () =>
                `${plan.samples} samples in ${result.files.length} shards → ${plan.pattern ?? '(none)'} in ${o.out ?? id}`,
            );
          } finally {
            bar.stop();
          }
        });
      },
    );
  lake
    .command('snapshot')
    .description('snapshot the curated images as a dataset version')
    .option('--name <name>', 'dataset name', 'default')
    .option('--machine-captions', 'include machine-made captions', false)
    .option('--json', 'print JSON', false)
    .action(async (o: { name: string; machineCaptions: boolean; json: boolean }) => {
      await withApp(async (app) => {
        const r = await snapshotDataset(
          { store: app.objects, catalog: app.catalog },
          { name: o.name, includeMachineCaptions: o.machineCaptions },
        );
        print(
          { record: r.record, created: r.created },
          o.json,
          () => `${r.record.id} (${r.record.counts.total} items${r.created ? '' : ', unchanged'})`,
        );
      });
    });
  return lake;
}
