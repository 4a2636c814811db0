/**
 * A server started by one test (Prometheus, nginx) with its own temp folder. It is a child of
 * the test process and is killed when that process exits, even if the test forgot `stop()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, spawnLogged, stopProcess, waitHealthy } from './processes.ts';

/** A running per-test server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Its temp folder: config, data, logs. */
  readonly dir: string;
  /** Its combined stdout/stderr log. */
  readonly logFile: string;
  /** Stops it and removes its temp folder. */
  stop(): Promise<void>;
}

const running = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of running) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Kill `pid` if it still runs when this process exits. */
export function killOnExit(pid: number): void {
  installExitHook();
  running.add(pid);
}

/** `pid` was stopped: nothing to kill at exit. */
export function forgetOnExit(pid: number): void {
  running.delete(pid);
}

/** A fresh temp folder for one per-test server. */
export function perTestDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `captionflow-${name}-`));
}

/** Options of {@link startPerTest}. */
export interface PerTestSpec {
  readonly name: string;
  readonly dir: string;
  readonly cmd: string;
  readonly args: readonly string[];
  readonly url: string;
  readonly probe: () => Promise<boolean>;
  readonly timeoutMs: number;
}

/** Starts the server, waits until `probe` says it is ready, and hands back its handle. */
export async function startPerTest(spec: PerTestSpec): Promise<RunningServer> {
  installExitHook();
  const logFile = join(spec.dir, `${spec.name}.log`);
  const pid = spawnLogged({ cmd: spec.cmd, args: spec.args, cwd: spec.dir, logFile, detached: false });
  running.add(pid);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await stopProcess(pid, { group: false, graceMs: 5_000 });
    running.delete(pid);
    rmSync(spec.dir, { recursive: true, force: true });
  };
  try {
    await waitHealthy(spec.probe, { name: spec.name, timeoutMs: spec.timeoutMs, pid, logFile });
  } catch (err) {
    if (isAlive(pid)) await stopProcess(pid, { group: false, graceMs: 2_000 });
    running.delete(pid);
    // Keep the folder: its log says why the server did not come up.
    stopped = true;
    throw err;
  }
  return { url: spec.url, dir: spec.dir, logFile, stop };
}
