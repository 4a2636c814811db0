/**
 * The images directory of a dataset as a confinement boundary: dataset files are untrusted
 * input, and a `file_name` of `../../etc/shadow` or a symlink to `/` must not make the importer
 * copy files from elsewhere on the host into the lake.
 */
import { constants, promises as fsp } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { ImportErrorCodes } from './import-codes.ts';

// O_NOFOLLOW: the final component was resolved by realpath; if it became a symlink since, refuse
// it rather than follow it. O_NONBLOCK: opening a FIFO must not hang the import (it then fails the
// regular-file check). Both are 0 where the platform lacks them.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** A directory that dataset paths are resolved in, and never out of. */
export class ImageRoot {
  private constructor(
    /** The directory as given. */
    readonly path: string,
    /** The directory with every symlink resolved: containment is checked against it. */
    readonly realPath: string,
  ) {}

  /**
   * Open the images directory.
   * @throws PipelineError `CONFIG_INVALID` naming `imagesDir` when it is missing or not a directory.
   */
  static async open(dir: string): Promise<ImageRoot> {
    let real: string;
    try {
      real = await fsp.realpath(dir);
      if (!(await fsp.stat(real)).isDirectory())
        throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (err) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `imagesDir ${JSON.stringify(dir)} is not a readable directory (${errnoOf(err) ?? String(err)})`,
        {
          context: { key: 'imagesDir', value: dir },
          cause: err,
        },
      );
    }
    return new ImageRoot(dir, real);
  }

  /**
   * The real path of `relativePath` inside the root.
   * @throws PipelineError `PATH_OUTSIDE_ROOT` (absolute, `..` escape, symlink leading outside),
   *   `PATH_INVALID` (NUL byte, symlink loop), `FILE_NOT_FOUND`, `FILE_UNREADABLE`.
   */
  async resolve(relativePath: string): Promise<string> {
    const context = { path: relativePath };
    if (relativePath.includes('\0'))
      throw new PipelineError(ImportErrorCodes.PATH_INVALID, 'the path contains a NUL byte', { context });
    // Refuse absolute paths outright, even ones that would land inside the root: a dataset names files relative to its images directory.
    if (isAbsolute(relativePath) || /^[A-Za-z]:[\\/]/.test(relativePath) || relativePath.startsWith('\\\\')) {
      throw new PipelineError(
        ImportErrorCodes.PATH_OUTSIDE_ROOT,
        `${relativePath} is an absolute path; dataset paths must be relative to the images directory`,
        { context },
      );
    }
    const lexical = resolve(this.realPath, relativePath);
    if (!isInside(this.realPath, lexical)) {
      throw new PipelineError(
        ImportErrorCodes.PATH_OUTSIDE_ROOT,
        `${relativePath} leaves the images directory`,
        { context },
      );
    }
    let real: string;
    try {
      real = await fsp.realpath(lexical);
    } catch (err) {
      throw fileError(err, relativePath);
    }
    if (!isInside(this.realPath, real)) {
      throw new PipelineError(
        ImportErrorCodes.PATH_OUTSIDE_ROOT,
        `${relativePath} resolves through a symlink to outside the images directory`,
        { context },
      );
    }
    return real;
  }

  /**
   * Read the image at `relativePath`: resolve it inside the root, stat it, and read it only if it
   * is a regular file of at most `maxBytes` (a huge file is refused without reading it).
   * @throws PipelineError the codes of {@link resolve}, `IMAGE_TOO_LARGE`.
   */
  async readImage(relativePath: string, maxBytes: number): Promise<Buffer> {
    const real = await this.resolve(relativePath);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(real, OPEN_FLAGS);
    } catch (err) {
      throw fileError(err, relativePath);
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) {
        throw new PipelineError(ImportErrorCodes.FILE_UNREADABLE, `${relativePath} is not a regular file`, {
          context: { path: relativePath },
        });
      }
      if (stat.size > maxBytes) {
        throw new PipelineError(
          ErrorCodes.IMAGE_TOO_LARGE,
          `${relativePath} is ${stat.size} bytes, the limit is ${maxBytes}`,
          {
            context: { path: relativePath, size: stat.size, limit: maxBytes },
          },
        );
      }
      return await handle.readFile();
    } catch (err) {
      throw err instanceof PipelineError ? err : fileError(err, relativePath);
    } finally {
      await handle.close();
    }
  }
}

function fileError(err: unknown, relativePath: string): PipelineError {
  const errno = errnoOf(err);
  const context = { path: relativePath, errno: errno ?? null };
  if (errno === 'ENOENT' || errno === 'ENOTDIR') {
    return new PipelineError(ImportErrorCodes.FILE_NOT_FOUND, `${relativePath} does not exist`, {
      context,
      cause: err,
    });
  }
  if (errno === 'ELOOP') {
    return new PipelineError(
      ImportErrorCodes.PATH_INVALID,
      `${relativePath} is a symlink loop or changed into a symlink while being read`,
      { context, cause: err },
    );
  }
  // EMFILE/ENFILE are the importer's own resource limits, not a property of the file: retrying can help.
  const retriable = errno === 'EMFILE' || errno === 'ENFILE' || errno === 'EAGAIN';
  return new PipelineError(
    ImportErrorCodes.FILE_UNREADABLE,
    `${relativePath} cannot be read (${errno ?? (err instanceof Error ? err.message : String(err))})`,
    {
      context,
      cause: err,
      retriable,
    },
  );
}
