/**
 * Runs an install command to completion with its output in a log file, and serializes
 * installs of the same thing across processes with a lock folder.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Output (stdout and stderr) is appended here. */
  readonly logFile: string;
  /** Kill the command after this long, in ms. */
  readonly timeoutMs?: number;
}

/**
 * Runs `cmd args` and resolves when it exits 0; rejects with the log's tail otherwise, so that
 * the reason an install failed is in the error and not only in a file.
 */
export async function runCommand(
  cmd: string,
  args: readonly string[],
  opts: RunCommandOptions,
): Promise<void> {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  try {
    writeFileSync(fd, `\n$ ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, [...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
    });
    const timer =
      opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    const code = await new Promise<number | null>((resolvePromise, reject) => {
      child.once('error', reject);
      child.once('exit', (c) => resolvePromise(c));
    }).finally(() => clearTimeout(timer));
    if (code !== 0) {
      throw new PipelineError(
        ErrorCodes.INTERNAL,
        `${cmd} exited with ${String(code)}: ${tail(opts.logFile)}`,
        {
          context: { cmd, args, logFile: opts.logFile },
        },
      );
    }
  } finally {
    closeSync(fd);
  }
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Runs `fn` while holding a lock folder, so that two processes (two test files, or a CLI and a
 * test run) do not install or start the same thing at once. The folder names its owner's pid:
 * a lock whose owner died mid-install is taken over at once, and any lock older than
 * `staleMs` too.
 */
export async function withLock<T>(lockDir: string, fn: () => Promise<T>, staleMs = 60 * 60_000): Promise<T> {
  mkdirSync(dirname(lockDir), { recursive: true });
  const ownerFile = join(lockDir, 'owner');
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(ownerFile, `${process.pid}\n`);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (lockIsStale(lockDir, ownerFile, staleMs)) rmSync(lockDir, { recursive: true, force: true });
      else await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function lockIsStale(lockDir: string, ownerFile: string, staleMs: number): boolean {
  let age: number;
  try {
    age = Date.now() - statSync(lockDir).mtimeMs;
  } catch {
    return false; // it went away meanwhile: just try again
  }
  if (age > staleMs) return true;
  let owner: number;
  try {
    owner = Number(readFileSync(ownerFile, 'utf8').trim());
  } catch {
    owner = NaN;
  }
  // No owner yet: being written right now, or its maker died between mkdir and write.
  if (!Number.isInteger(owner) || owner <= 0) return age > 5_000;
  try {
    process.kill(owner, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Whether {@link installOnce} finished `dir`. */
export function installedOnce(dir: string): boolean {
  return existsSync(join(dir, '.complete'));
}

/**
 * Build `dir` once per machine: a `.complete` marker in it says the build finished (its text is
 * what `build` returned, e.g. the version). Processes that race wait on `<dir>.lock` and find it
 * done; a build that failed or was killed left no marker, so the next call clears the folder and
 * builds again from nothing. Returns the marker's text.
 */
export async function installOnce(dir: string, build: () => Promise<string>): Promise<string> {
  const done = join(dir, '.complete');
  if (!existsSync(done)) {
    await withLock(`${dir}.lock`, async () => {
      if (existsSync(done)) return;
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const marker = await build();
      writeFileSync(done, marker.endsWith('\n') ? marker : `${marker}\n`);
    });
  }
  return readFileSync(done, 'utf8').trimEnd();
}
