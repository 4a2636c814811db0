/**
 * Starting servers as plain background processes, waiting for them to be healthy and
 * stopping them again, by pid only.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { tail } from './run-command.ts';

/** What to start. */
export interface SpawnSpec {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  /** stdout and stderr go here. */
  readonly logFile: string;
  /**
   * `true` (servers started by `up`): the process gets its own session and outlives the caller,
   * so that `down` from another process can stop it. `false` (per-test servers): it stays in
   * the caller's process group.
   */
  readonly detached: boolean;
}

/** Starts a process with its output in a log file and returns its pid. */
export function spawnLogged(spec: SpawnSpec): number {
  mkdirSync(dirname(spec.logFile), { recursive: true });
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.cmd, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: spec.detached,
    });
    // A spawn failure (missing binary) shows up as an 'error' event: report it in the log.
    child.once('error', (err) => {
      console.error(`failed to start ${spec.cmd}: ${err.message}`);
    });
    if (child.pid === undefined) {
      throw new PipelineError(ErrorCodes.INTERNAL, `could not start ${spec.cmd}`, { context: { ...spec } });
    }
    if (spec.detached) child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** True when `pid` runs (and is not a zombie waiting to be reaped). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state letter follows the command name, which is in parentheses and may hold spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

/**
 * True when `pid` runs and its command line contains `marker` (a path of ours): a recorded pid
 * may have been reused by an unrelated process after a reboot or a crash, and that one must
 * never be signalled.
 */
export function isOurs(pid: number, marker: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    return false;
  }
}

/**
 * Stops a process we started: SIGTERM, then SIGKILL after `graceMs`. A detached process leads
 * its own process group, so the group is signalled to take helpers it forked along with it.
 */
export async function stopProcess(pid: number, opts: { group: boolean; graceMs?: number }): Promise<void> {
  const target = opts.group ? -pid : pid;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(target, sig);
    } catch {
      // already gone
    }
  };
  if (!isAlive(pid)) return;
  signal('SIGTERM');
  const deadline = Date.now() + (opts.graceMs ?? 15_000);
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(100);
  }
  signal('SIGKILL');
  while (isAlive(pid)) await sleep(50);
}

/** Options of {@link waitHealthy}. */
export interface WaitOptions {
  readonly name: string;
  readonly timeoutMs: number;
  /** Fail at once, with the log's tail, when this process dies while we wait. */
  readonly pid?: number;
  readonly logFile?: string;
  readonly intervalMs?: number;
}

/**
 * Polls `probe` until it resolves `true`. Throws a TIMEOUT PipelineError that carries the log
 * tail, because "did not become healthy" alone is not something one can act on.
 */
export async function waitHealthy(probe: () => Promise<boolean>, opts: WaitOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (opts.pid !== undefined && !isAlive(opts.pid)) {
      throw new PipelineError(
        ErrorCodes.INTERNAL,
        `${opts.name} exited while starting: ${opts.logFile === undefined ? '' : tail(opts.logFile)}`,
        { context: { name: opts.name, logFile: opts.logFile } },
      );
    }
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(opts.intervalMs ?? 250);
  }
  throw new PipelineError(
    ErrorCodes.TIMEOUT,
    `${opts.name} not healthy after ${opts.timeoutMs} ms: ${opts.logFile === undefined ? '' : tail(opts.logFile)}`,
    { retriable: true, context: { name: opts.name, logFile: opts.logFile }, cause: lastError },
  );
}

/** True when an HTTP GET of `url` answers with a status accepted by `ok` (2xx by default). */
export async function httpOk(
  url: string,
  ok: (status: number) => boolean = (s) => s >= 200 && s < 300,
): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
  await res.arrayBuffer();
  return ok(res.status);
}

/** A TCP port that is free on 127.0.0.1 right now (for servers started per test). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolvePromise(port));
    });
  });
}

/** True when nothing listens on 127.0.0.1:`port`. */
export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const srv = createServer();
    srv.once('error', () => resolvePromise(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolvePromise(true)));
  });
}
