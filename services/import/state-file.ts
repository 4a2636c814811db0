/**
 * The resume state of a bulk import: a JSON-lines file, one header line then one line per image
 * that was ingested (object stored and event acknowledged).
 *
 * JSON lines rather than SQLite: the importer is the only writer, it only appends, and the file
 * stays readable with `jq`/`grep` when someone wants to know what an import did. A kill -9 can at
 * worst leave a torn last line (an append without its newline); opening the file drops it, and
 * the item it described is simply ingested again — the door is idempotent, so that costs one
 * re-upload, never a duplicate event id.
 */
import { promises as fsp } from 'node:fs';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';

/** The first line of a state file: which import it belongs to. */
export interface ImportStateHeader {
  readonly v: 1;
  readonly kind: 'captionflow.import-state';
  readonly batchId: string;
  readonly format: string;
  /** sha256 of the annotations file the batch was started from. */
  readonly annotationsSha256: string;
}

/** One finished image. */
export interface ImportStateEntry {
  /** The dataset's external id of the image. */
  readonly id: string;
  readonly eventId: string;
  readonly imageId: string;
  /** Epoch ms when the import of the image finished. */
  readonly at: number;
}

/** What a state file holds, for inspection and tests. */
export interface ImportStateContents {
  readonly header: ImportStateHeader;
  /** Every complete entry line, in file order (an id appears more than once only if two runs shared the file at once). */
  readonly entries: readonly ImportStateEntry[];
  /** Bytes after the last newline: a torn append from a killed run (0 when the file ends cleanly). */
  readonly tornBytes: number;
  /** Complete lines that were not valid entries (ignored). */
  readonly badLines: number;
}

const KIND = 'captionflow.import-state';

function isHeader(value: unknown): value is ImportStateHeader {
  const v = value as Partial<ImportStateHeader> | null;
  return typeof v === 'object' && v !== null && v.v === 1 && v.kind === KIND && typeof v.batchId === 'string';
}

function isEntry(value: unknown): value is ImportStateEntry {
  const v = value as Partial<ImportStateEntry> | null;
  return typeof v === 'object' && v !== null && typeof v.id === 'string' && typeof v.eventId === 'string';
}

function notAStateFile(path: string, why: string): PipelineError {
  return new PipelineError(
    ErrorCodes.CONFIG_INVALID,
    `stateFile ${JSON.stringify(path)} is not an import state file (${why}); refusing to touch it`,
    {
      context: { key: 'stateFile', value: path },
    },
  );
}

/**
 * Parse the text of a state file.
 * @throws PipelineError `CONFIG_INVALID` when the first line is not a state header.
 */
export function parseImportState(text: string, path = 'stateFile'): ImportStateContents {
  const end = text.lastIndexOf('\n') + 1;
  const lines = text.slice(0, end).split('\n');
  lines.pop(); // the empty string after the last newline
  const first = lines.shift();
  let header: unknown;
  try {
    header = first === undefined ? undefined : JSON.parse(first);
  } catch {
    header = undefined;
  }
  if (!isHeader(header))
    throw notAStateFile(
      path,
      first === undefined ? 'no complete header line' : 'first line is not a state header',
    );
  const entries: ImportStateEntry[] = [];
  let badLines = 0;
  for (const line of lines) {
    try {
      const value: unknown = JSON.parse(line);
      if (isEntry(value)) entries.push(value);
      else badLines++;
    } catch {
      badLines++;
    }
  }
  return { header, entries, tornBytes: Buffer.byteLength(text.slice(end)), badLines };
}

/**
 * Read a state file without changing it.
 * @throws PipelineError `CONFIG_INVALID` when it is not a state file.
 */
export async function readImportState(path: string): Promise<ImportStateContents> {
  return parseImportState(await fsp.readFile(path, 'utf8'), path);
}

/** An open state file: which ids are done, and an append-only record of newly finished ones. */
export class ImportStateFile {
  private readonly done: Set<string>;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: fsp.FileHandle,
    done: Iterable<string>,
  ) {
    this.done = new Set(done);
  }

  /**
   * Open `path` for the import described by `header`: create it (header written atomically by
   * rename) or load it, dropping a torn last line so the next append starts on a fresh line.
   * @throws PipelineError `CONFIG_INVALID` when the file is not a state file or belongs to another
   *   batch (resuming someone else's import would skip the wrong images).
   */
  static async open(path: string, header: Omit<ImportStateHeader, 'v' | 'kind'>): Promise<ImportStateFile> {
    const full: ImportStateHeader = { v: 1, kind: KIND, ...header };
    let text: string | undefined;
    try {
      text = await fsp.readFile(path, 'utf8');
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') {
        throw new PipelineError(
          ErrorCodes.CONFIG_INVALID,
          `stateFile ${JSON.stringify(path)} cannot be read`,
          { context: { key: 'stateFile', value: path }, cause: err },
        );
      }
    }
    let done: string[] = [];
    if (text === undefined || text === '') {
      // Write the header to a temporary file and rename it in: the header line is never torn.
      const tmp = `${path}.${process.pid}.tmp`;
      await fsp.writeFile(tmp, `${JSON.stringify(full)}\n`);
      await fsp.rename(tmp, path);
    } else {
      const contents = parseImportState(text, path);
      if (contents.header.batchId !== full.batchId) {
        throw new PipelineError(
          ErrorCodes.CONFIG_INVALID,
          `stateFile ${JSON.stringify(path)} belongs to import batch ${contents.header.batchId}, this import is batch ${full.batchId}; use another state file or the same batch id`,
          {
            context: {
              key: 'stateFile',
              value: path,
              stateBatchId: contents.header.batchId,
              batchId: full.batchId,
            },
          },
        );
      }
      if (contents.tornBytes > 0)
        await fsp.truncate(path, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
      done = contents.entries.map((e) => e.id);
    }
    const handle = await fsp.open(path, 'a');
    return new ImportStateFile(path, handle, done);
  }

  /** True when `id` finished in this or an earlier run. */
  has(id: string): boolean {
    return this.done.has(id);
  }

  /** How many distinct ids are done. */
  get size(): number {
    return this.done.size;
  }

  /**
   * Append a finished image. Appends are serialised so that each line goes out in one write; no
   * fsync per line: a killed process loses nothing the kernel already has, and a power loss only
   * costs re-ingesting the last images.
   */
  record(entry: ImportStateEntry): Promise<void> {
    if (this.closed)
      return Promise.reject(new PipelineError(ErrorCodes.SHUTDOWN, 'the import state file is closed'));
    this.done.add(entry.id);
    const line = `${JSON.stringify(entry)}\n`;
    const next = this.tail.then(async () => {
      await this.handle.write(line);
    });
    // A failed write must not poison later ones; the caller of this record() still sees its error.
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Wait for pending appends, fsync, close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    try {
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }
}
