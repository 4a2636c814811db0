/**
 * `captionflow import <coco|karpathy> --annotations FILE --images DIR …`: the bulk importer on
 * the command line. Progress goes to stderr (a bar on a terminal, JSON lines otherwise), the
 * summary to stdout. Exit code 0 when every image went in, 1 when any failed, 130 when
 * interrupted (Ctrl-C finishes the images in flight; the same command resumes with `--state`).
 */
import { Argument, Command, InvalidArgumentError } from 'commander';
import type { IngestDeps } from '../../topologies/ingest.ts';
import { DATASET_FORMATS } from './formats.ts';
import type { DatasetFormat } from './formats.ts';
import { importDataset } from './importer.ts';
import type { ImportSummary } from './importer.ts';
import { createProgressDisplay } from './progress-display.ts';

/** What the command writes to and how it ends; the defaults are the process's. Tests replace them. */
export interface ImportCommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** Draw a progress bar (default: stderr is a terminal). */
  readonly isTTY: boolean;
  /** Period of the JSON progress lines when not on a terminal (default 5000 ms). */
  readonly progressIntervalMs: number;
  readonly setExitCode: (code: number) => void;
  /** Turn SIGINT/SIGTERM into a graceful stop (default true). */
  readonly handleSignals: boolean;
}

/** The ingest dependencies the command opens before importing and closes afterwards. */
export type OpenIngestDeps = () => Promise<{ deps: IngestDeps; close(): Promise<void> }>;

interface CommandOptions {
  annotations: string;
  images: string;
  batchId?: string;
  concurrency?: number;
  state?: string;
  limit?: number;
  json?: boolean;
  strict?: boolean;
}

/** How many failures the text summary lists before pointing at `--json`. */
const LISTED_FAILURES = 20;

function integer(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`expected an integer >= ${min}, got ${JSON.stringify(value)}`);
    return n;
  };
}

function textSummary(summary: ImportSummary, seconds: number): string {
  const lines = [
    `${summary.aborted ? 'import interrupted' : 'import finished'}: batch ${summary.batchId}`,
    `  total ${summary.total}, imported ${summary.imported}, already in the lake ${summary.alreadyInLake}, skipped ${summary.skipped} (state file), failed ${summary.failed.length}, in ${seconds.toFixed(1)} s`,
  ];
  if (summary.annotationProblems.length > 0) {
    lines.push(`broken annotations skipped (--strict refuses the file instead):`);
    for (const p of summary.annotationProblems.slice(0, LISTED_FAILURES)) lines.push(`  ${p.path}  ${p.code}: ${p.message}`);
    if (summary.annotationProblems.length > LISTED_FAILURES) lines.push(`  … and ${summary.annotationProblems.length - LISTED_FAILURES} more (--json lists them all)`);
  }
  if (summary.failed.length > 0) {
    lines.push('failed images:');
    for (const f of summary.failed.slice(0, LISTED_FAILURES))
      lines.push(`  ${f.externalId}  ${f.path}  ${f.code}: ${f.message}`);
    if (summary.failed.length > LISTED_FAILURES)
      lines.push(`  … and ${summary.failed.length - LISTED_FAILURES} more (--json lists them all)`);
  }
  if (summary.aborted) lines.push('run the same command (with the same --state file) to resume');
  return `${lines.join('\n')}\n`;
}

/**
 * The `import` subcommand. `openDeps` is called only when the command runs, so `--help` opens
 * nothing. Configuration errors and infrastructure failures reject `parseAsync` with a
 * PipelineError, as every captionflow command does.
 */
export function importCommand(openDeps: OpenIngestDeps, io: Partial<ImportCommandIo> = {}): Command {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const setExitCode = io.setExitCode ?? ((code: number) => void (process.exitCode = code));
  return new Command('import')
    .description('import a captioning dataset (images + captions) into the lake through the bulk door')
    .addArgument(new Argument('<format>', 'annotations format').choices(DATASET_FORMATS))
    .requiredOption(
      '--annotations <file>',
      'annotations JSON (COCO captions_*.json, or Karpathy dataset_*.json)',
    )
    .requiredOption(
      '--images <dir>',
      'directory the image paths are relative to (nothing outside it is read)',
    )
    .option(
      '--batch-id <id>',
      'import batch id (default: derived from the annotations file, so re-runs are the same batch)',
    )
    .option('--concurrency <n>', 'images in flight at once', integer(1), 4)
    .option('--state <file>', 'resume state (JSON lines); images it lists are skipped on a re-run')
    .option('--limit <n>', 'import only the first N images of the dataset', integer(0))
    .option('--strict', 'refuse the whole file when an annotation is broken (default: skip and report it)')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  captionflow import coco --annotations captions_val2014.json --images val2014/ --state import.jsonl\n  captionflow import karpathy --annotations dataset_flickr8k.json --images Flicker8k_Dataset/ --json',
    )
    .action(async (format: DatasetFormat, options: CommandOptions) => {
      const opened = await openDeps();
      const controller = new AbortController();
      const onSignal = (): void => {
        if (controller.signal.aborted) return;
        stderr.write('\nstopping: finishing the images in flight (signal again to force)\n');
        controller.abort();
      };
      const handleSignals = io.handleSignals ?? true;
      if (handleSignals) {
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
      }
      const display = createProgressDisplay({
        stream: stderr,
        tty: io.isTTY ?? process.stderr.isTTY === true,
        intervalMs: io.progressIntervalMs ?? 5000,
      });
      const started = Date.now();
      try {
        const summary = await importDataset({
          format,
          annotations: options.annotations,
          imagesDir: options.images,
          deps: opened.deps,
          concurrency: options.concurrency ?? 4,
          ...(options.batchId === undefined ? {} : { batchId: options.batchId }),
          ...(options.state === undefined ? {} : { stateFile: options.state }),
          ...(options.limit === undefined ? {} : { limit: options.limit }),
          ...(options.strict === true ? { strict: true } : {}),
          onProgress: (p) => display.update(p),
          signal: controller.signal,
        });
        display.stop();
        const seconds = (Date.now() - started) / 1000;
        stdout.write(
          options.json === true
            ? `${JSON.stringify({ ...summary, seconds })}\n`
            : textSummary(summary, seconds),
        );
        setExitCode(summary.failed.length > 0 || summary.annotationProblems.length > 0 ? 1 : summary.aborted ? 130 : 0);
      } finally {
        display.stop();
        if (handleSignals) {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        await opened.close();
      }
    });
}
