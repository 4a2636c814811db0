/**
 * The bulk importer: a captioning dataset (COCO captions or Karpathy split JSON plus an images
 * directory) through the ingest door, image by image, with bounded concurrency.
 *
 * Idempotent by construction — the event id comes from source + batch id + the dataset's image
 * id, and bronze objects are content-addressed — so re-running an import changes nothing
 * downstream. The optional state file only saves the work of re-reading and re-sending images
 * that already went through.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename } from 'node:path';
import { z } from 'zod';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { ingestImage } from '../../topologies/ingest.ts';
import type { IngestDeps } from '../../topologies/ingest.ts';
import { DATASET_FORMATS, decodeAnnotations, parseDataset, type AnnotationProblem } from './formats.ts';
import type { DatasetFormat, ImportItem } from './formats.ts';
import { ImageRoot } from './image-root.ts';
import { ImportErrorCodes } from './import-codes.ts';
import { ImportStateFile } from './state-file.ts';

/** Progress of a running import; `done = imported + alreadyInLake + failed + skipped`, it reaches `total` at the end. */
export interface ImportProgress {
  readonly done: number;
  readonly total: number;
  readonly imported: number;
  readonly alreadyInLake: number;
  readonly failed: number;
  readonly skipped: number;
}

/** Options of {@link importDataset}. */
export interface ImportOptions {
  readonly format: DatasetFormat;
  /** Path of the annotations JSON file. */
  readonly annotations: string;
  /** Directory the dataset's image paths are relative to; nothing outside it is ever read. */
  readonly imagesDir: string;
  readonly deps: IngestDeps;
  /** Import batch id (part of every event id). Default: `<format>-` + the first 16 hex of the annotations file's sha256, so re-runs are the same batch. */
  readonly batchId?: string;
  /** Images in flight at once (default 4). */
  readonly concurrency?: number;
  /** JSON-lines resume state; images it lists as done are skipped. Default: none (re-runs re-send everything, idempotently). */
  readonly stateFile?: string;
  /** Called after every finished image (and once at the start). */
  readonly onProgress?: (progress: ImportProgress) => void;
  /** Abort: no new image is started, images in flight finish and are recorded, the result has `aborted: true`. */
  readonly signal?: AbortSignal;
  /** Consider only the first `limit` images of the dataset (file order). */
  readonly limit?: number;
  /** Refuse the whole file on a broken annotation instead of skipping and reporting it. */
  readonly strict?: boolean;
}

/** An image that could not be imported, and why. */
export interface ImportFailure {
  readonly externalId: string;
  /** The image path as the dataset gives it. */
  readonly path: string;
  /** A PipelineError code: `FILE_NOT_FOUND`, `PATH_OUTSIDE_ROOT`, `UNSUPPORTED_FORMAT`, `IMAGE_TOO_LARGE`… */
  readonly code: string;
  readonly message: string;
}

/** What an import did. */
export interface ImportSummary {
  /** Images considered (the dataset's count, capped by `limit`). */
  readonly total: number;
  /** Images ingested by this run. */
  readonly imported: number;
  /**
   * Images whose bytes the lake already had (an earlier run, another door): nothing new was
   * written; their event was sent again, which changes nothing downstream (idempotent sinks).
   */
  readonly alreadyInLake: number;
  /** Broken annotations skipped, each by JSON path, index and code (`--strict` refuses them instead). */
  readonly annotationProblems: readonly AnnotationProblem[];
  /** Images skipped because the state file lists them as done. */
  readonly skipped: number;
  readonly failed: readonly ImportFailure[];
  readonly batchId: string;
  /** True when `signal` stopped the run before every image was tried. */
  readonly aborted: boolean;
}

/**
 * Codes that describe a bad dataset item rather than a broken system: the item is reported as
 * failed and the import goes on. Anything else (storage or broker down, serde broken) stops the
 * import after retries — every following item would fail the same way, and the state file lets
 * the next run resume where this one stopped.
 */
const ITEM_ERROR_CODES: ReadonlySet<string> = new Set([
  ImportErrorCodes.PATH_OUTSIDE_ROOT,
  ImportErrorCodes.PATH_INVALID,
  ImportErrorCodes.FILE_NOT_FOUND,
  ImportErrorCodes.FILE_UNREADABLE,
  ErrorCodes.IMAGE_EMPTY,
  ErrorCodes.IMAGE_TOO_LARGE,
  ErrorCodes.IMAGE_DECODE_FAILED,
  ErrorCodes.PIXEL_LIMIT_EXCEEDED,
  ErrorCodes.UNSUPPORTED_FORMAT,
  ErrorCodes.CAPTION_EMPTY,
  ErrorCodes.CAPTION_TOO_LONG,
  ErrorCodes.CAPTION_INVALID_UTF8,
  ErrorCodes.CAPTION_INVALID,
  ErrorCodes.CAPTION_TOO_SHORT,
  ErrorCodes.CAPTION_BLOCKED,
]);

/** Attempts of one item on retriable errors, and the first backoff (×4 each time): ~5 s in all. */
const RETRY_ATTEMPTS = 4;
const RETRY_BASE_MS = 250;

const optionsSchema = z.object({
  format: z.enum(DATASET_FORMATS),
  annotations: z.string().min(1),
  imagesDir: z.string().min(1),
  batchId: z.string().min(1).max(200).optional(),
  concurrency: z.number().int().min(1).max(256).optional(),
  stateFile: z.string().min(1).optional(),
  limit: z.number().int().min(0).optional(),
});

function validateOptions(opts: ImportOptions): void {
  const { deps: _deps, onProgress: _p, signal: _s, ...plain } = opts;
  const result = optionsSchema.safeParse(plain);
  if (result.success) return;
  const issue = result.error.issues[0]!;
  const key = issue.path.map(String).join('.');
  throw new PipelineError(
    ErrorCodes.CONFIG_INVALID,
    `import option ${key}: ${issue.message} (got ${JSON.stringify((plain as Record<string, unknown>)[key])})`,
    {
      context: { key, value: (plain as Record<string, unknown>)[key] },
    },
  );
}

/** The default batch id of an annotations file: same file, same batch, same event ids. */
export function defaultBatchId(format: DatasetFormat, annotationsSha256: string): string {
  return `${format}-${annotationsSha256.slice(0, 16)}`;
}

/**
 * Import a dataset through the ingest door (source `bulk`). Bad items are reported in
 * `failed` and the import goes on; a failure of the system itself (after retries) rejects.
 * @throws PipelineError `CONFIG_INVALID` (bad options, missing images directory, state file of
 *   another batch), `FILE_NOT_FOUND` (annotations), `IMPORT_ANNOTATIONS_INVALID`, or the code of
 *   an infrastructure failure that outlived its retries.
 */
export async function importDataset(opts: ImportOptions): Promise<ImportSummary> {
  validateOptions(opts);
  const { deps, format, signal } = opts;
  let raw: Buffer;
  try {
    raw = await fsp.readFile(opts.annotations);
  } catch (err) {
    const missing = (err as { code?: unknown }).code === 'ENOENT';
    throw new PipelineError(
      missing ? ImportErrorCodes.FILE_NOT_FOUND : ImportErrorCodes.FILE_UNREADABLE,
      `annotations file ${opts.annotations} cannot be read`,
      {
        context: { key: 'annotations', value: opts.annotations },
        cause: err,
      },
    );
  }
  const sha256 = createHash('sha256').update(raw).digest('hex');
  const dataset = parseDataset(format, decodeAnnotations(raw, opts.annotations), opts.annotations, { strict: opts.strict === true });
  const batchId = opts.batchId ?? defaultBatchId(format, sha256);
  const root = await ImageRoot.open(opts.imagesDir);

  const items: ImportItem[] = [];
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  for (const item of dataset.items()) {
    if (items.length >= limit) break;
    items.push(item);
  }
  const state =
    opts.stateFile === undefined
      ? undefined
      : await ImportStateFile.open(opts.stateFile, { batchId, format, annotationsSha256: sha256 });
  try {
    const pending = state === undefined ? items : items.filter((i) => !state.has(i.externalId));
    const counts = { imported: 0, alreadyInLake: 0, skipped: items.length - pending.length };
    const failed: ImportFailure[] = [];
    const progress = (): void => {
      opts.onProgress?.({
        done: counts.imported + counts.alreadyInLake + counts.skipped + failed.length,
        total: items.length,
        imported: counts.imported,
        alreadyInLake: counts.alreadyInLake,
        failed: failed.length,
        skipped: counts.skipped,
      });
    };
    progress();

    let next = 0;
    let fatal: PipelineError | undefined;
    const importOne = async (item: ImportItem): Promise<'done' | 'interrupted'> => {
      for (let attempt = 1; ; attempt++) {
        try {
          const bytes = await root.readImage(item.relativePath, deps.maxBytes);
          const { event, storedNew } = await ingestImage(deps, {
            bytes,
            source: 'bulk',
            producer: `captionflow-import/${format}`,
            filename: basename(item.relativePath),
            captions: item.captions.map((text) => ({ text })),
            externalId: item.externalId,
            importBatchId: batchId,
            attributes: item.attributes,
          });
          await state?.record({
            id: item.externalId,
            eventId: event.eventId,
            imageId: event.imageId,
            at: deps.clock.now(),
          });
          // A retry may find the bytes its own failed attempt stored: only a first attempt can tell.
          if (storedNew || attempt > 1) counts.imported++;
          else counts.alreadyInLake++;
          return 'done';
        } catch (err) {
          const error = PipelineError.from(err);
          if (error.retriable && attempt < RETRY_ATTEMPTS && fatal === undefined) {
            try {
              await deps.clock.sleep(RETRY_BASE_MS * 4 ** (attempt - 1), signal);
            } catch {
              return 'interrupted';
            }
            continue;
          }
          if (!ITEM_ERROR_CODES.has(error.code)) throw error;
          failed.push({
            externalId: item.externalId,
            path: item.relativePath,
            code: error.code,
            message: error.message,
          });
          return 'done';
        }
      }
    };
    const worker = async (): Promise<void> => {
      while (fatal === undefined && signal?.aborted !== true && next < pending.length) {
        const item = pending[next++]!;
        try {
          if ((await importOne(item)) === 'interrupted') return;
        } catch (err) {
          fatal ??= PipelineError.from(err);
          return;
        }
        progress();
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, pending.length) }, worker));
    if (fatal !== undefined) {
      const stopped: PipelineError = fatal;
      throw new PipelineError(
        stopped.code,
        `import stopped: ${stopped.message} (imported ${counts.imported}, failed ${failed.length} before stopping${state ? '; re-run with the same state file to resume' : ''})`,
        {
          retriable: stopped.retriable,
          context: { batchId, imported: counts.imported, failed: failed.length },
          cause: stopped,
        },
      );
    }
    const finished = counts.imported + counts.alreadyInLake + counts.skipped + failed.length;
    return {
      total: items.length,
      imported: counts.imported,
      alreadyInLake: counts.alreadyInLake,
      annotationProblems: dataset.problems,
      skipped: counts.skipped,
      failed,
      batchId,
      aborted: finished < items.length,
    };
  } finally {
    await state?.close();
  }
}
