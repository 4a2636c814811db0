/**
 * Real servers for integration tests and local runs, as plain processes on 127.0.0.1.
 *
 * `up(names)` installs what is missing (cached under `${CAPTIONFLOW_CACHE:-~/.cache/captionflow}`),
 * starts each server with its data in a fresh folder, waits until it is healthy and returns the
 * `CF_*` env vars pointing at it. Pids, folders and env are kept in a state folder, so that
 * `down()` from another process stops what `up` started. `up` on servers that already run and
 * answer just returns their env.
 *
 * Per-test servers (Prometheus, nginx) and Chromium have their own helpers, re-exported here.
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { kafkaDriver } from './kafka.ts';
import { mongoDriver } from './mongo.ts';
import { defaultStateDir } from './paths.ts';
import { isOurs, portFree, stopProcess, waitHealthy } from './processes.ts';
import { registryDriver } from './registry.ts';
import { withLock } from './run-command.ts';
import { s3Driver } from './s3.ts';
import { trinoDriver } from './trino.ts';
import { SERVICE_NAMES } from './service.ts';
import { startAfterNeeds, withNeeds } from './start-order.ts';
import type { RunContext, ServiceDriver, ServiceEnv, ServiceName } from './service.ts';

export type { ServiceEnv, ServiceName } from './service.ts';
export { DEFAULT_SERVICE_NAMES, SERVICE_NAMES } from './service.ts';
export { startPrometheus } from './prometheus.ts';
export type { PrometheusOptions } from './prometheus.ts';
export { startNginx } from './nginx.ts';
export type { NginxOptions, NginxConfigContext } from './nginx.ts';
export type { RunningServer } from './per-test-process.ts';
export { ensureChromium } from './chromium.ts';

/** Options shared by {@link up}, {@link down} and {@link status}. */
export interface ManagerOptions {
  /** Where pids, run folders and logs are kept; default `${TMPDIR:-/tmp}/captionflow-services`. */
  readonly stateDir?: string;
}

/** Options of {@link down}. */
export interface DownOptions extends ManagerOptions {
  /** Stop only these; all by default. */
  readonly names?: readonly ServiceName[];
  /** Keep the run folders (data and logs) instead of deleting them. */
  readonly keepData?: boolean;
}

/** What the state file records of one running server. */
export interface ServiceRecord {
  readonly pid: number;
  readonly runDir: string;
  readonly logFile: string;
  readonly env: ServiceEnv;
  readonly startedAt: string;
  /** Time spent installing on this `up` (0 when cached). */
  readonly installMs: number;
  /** Time from spawn to healthy. */
  readonly startMs: number;
}

/** One line of {@link status}. */
export interface ServiceStatus {
  readonly name: ServiceName;
  readonly running: boolean;
  readonly healthy: boolean;
  readonly record?: ServiceRecord;
}

type State = Partial<Record<ServiceName, ServiceRecord>>;

const DRIVERS: Record<ServiceName, ServiceDriver> = {
  kafka: kafkaDriver,
  registry: registryDriver,
  s3: s3Driver,
  mongo: mongoDriver,
  trino: trinoDriver,
};

const log = pino(
  { name: 'captionflow-services', level: process.env['CF_SERVICES_LOG_LEVEL'] ?? 'info' },
  pino.destination(2),
);

function stateDirOf(opts: ManagerOptions | undefined): string {
  return opts?.stateDir ?? defaultStateDir();
}

function readState(dir: string): State {
  try {
    return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as State;
  } catch {
    return {};
  }
}

function writeState(dir: string, state: State): void {
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `state.json.${process.pid}`);
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, join(dir, 'state.json'));
}

function needsOf(name: ServiceName): readonly ServiceName[] {
  return DRIVERS[name].needs ?? [];
}

function validateNames(names: readonly string[]): ServiceName[] {
  const bad = names.filter((n) => !(SERVICE_NAMES as readonly string[]).includes(n));
  if (bad.length > 0) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `unknown service(s) ${bad.join(', ')}; expected ${SERVICE_NAMES.join(', ')}`,
      {
        context: { names },
      },
    );
  }
  return [...new Set(names as ServiceName[])];
}

async function probe(driver: ServiceDriver): Promise<boolean> {
  try {
    return await driver.healthy();
  } catch {
    return false;
  }
}

/** True when the recorded process is ours, alive, and answers. */
async function isRunningHealthy(name: ServiceName, rec: ServiceRecord | undefined): Promise<boolean> {
  return rec !== undefined && isOurs(rec.pid, rec.runDir) && (await probe(DRIVERS[name]));
}

/**
 * Refuses to start a server whose port is taken: the health probe would otherwise talk to
 * whatever holds the port and call our (failing) server healthy.
 */
async function assertPortsFree(name: ServiceName, stateDir: string): Promise<void> {
  const taken: number[] = [];
  for (const port of DRIVERS[name].ports) if (!(await portFree(port))) taken.push(port);
  if (taken.length > 0) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `cannot start ${name}: port(s) ${taken.join(', ')} on 127.0.0.1 are in use by a process this state folder (${stateDir}) does not know; stop it or use its state folder`,
      { context: { name, taken, stateDir } },
    );
  }
}

async function stopRecord(name: ServiceName, rec: ServiceRecord, keepData: boolean): Promise<void> {
  if (isOurs(rec.pid, rec.runDir)) {
    log.info({ service: name, pid: rec.pid }, 'stopping');
    await stopProcess(rec.pid, { group: true, graceMs: DRIVERS[name].stopGraceMs });
    DRIVERS[name].afterStop?.();
  }
  if (!keepData) rmSync(rec.runDir, { recursive: true, force: true });
}

/**
 * Starts the named servers (those not already running and healthy) and returns the env vars
 * of all of them. Idempotent; concurrent calls on the same state folder are serialized.
 */
/** The servers among `names` whose install is not in the cache yet, with what installing them fetches or builds. */
export function installPlan(names: readonly ServiceName[]): { name: ServiceName; installs: string }[] {
  return names
    .filter((n) => !DRIVERS[n].installed())
    .map((n) => ({ name: n, installs: DRIVERS[n].installs }));
}

export async function up(names: ServiceName[], opts?: ManagerOptions): Promise<ServiceEnv> {
  const wanted = withNeeds(validateNames(names), needsOf);
  const stateDir = stateDirOf(opts);
  mkdirSync(stateDir, { recursive: true });
  return withLock(join(stateDir, 'up.lock'), async () => {
    const state = readState(stateDir);
    const toStart: ServiceName[] = [];
    for (const name of wanted) {
      const rec = state[name];
      if (await isRunningHealthy(name, rec)) {
        log.debug({ service: name }, 'already running');
        continue;
      }
      if (rec !== undefined) {
        log.warn({ service: name, pid: rec.pid }, 'recorded but not healthy: restarting');
        await stopRecord(name, rec, false);
        delete state[name];
        writeState(stateDir, state);
      }
      toStart.push(name);
    }

    // Checked before the (possibly long) installs to fail fast, and again right before each start.
    for (const name of toStart) await assertPortsFree(name, stateDir);

    // Installs one after the other: the Go builds share a module cache, and two Go or Maven
    // builds at once on a 2-core machine are not faster than in turn.
    const contexts = new Map<ServiceName, RunContext>();
    const installMs = new Map<ServiceName, number>();
    try {
      for (const name of toStart) {
        const runsDir = join(stateDir, 'runs');
        mkdirSync(runsDir, { recursive: true });
        const runDir = mkdtempSync(join(runsDir, `${name}-`));
        const ctx: RunContext = {
          runDir,
          logFile: join(runDir, `${name}.log`),
          installLog: join(stateDir, 'logs', `${name}-install.log`),
        };
        contexts.set(name, ctx);
        const t0 = Date.now();
        if (DRIVERS[name].installed()) log.info({ service: name }, 'installed already (cache)');
        else log.info({ service: name, installs: DRIVERS[name].installs }, 'installing once into the cache');
        await DRIVERS[name].install(ctx);
        installMs.set(name, Date.now() - t0);
        log.info({ service: name, installMs: Date.now() - t0 }, 'installed');
      }
      for (const name of toStart) await assertPortsFree(name, stateDir);
    } catch (err) {
      for (const ctx of contexts.values()) rmSync(ctx.runDir, { recursive: true, force: true });
      throw err;
    }

    // Starts run side by side (most of the time is JVMs warming up), each after the servers it needs are healthy.
    await startAfterNeeds(toStart, needsOf, async (name) => {
      const driver = DRIVERS[name];
      const ctx = contexts.get(name);
      if (ctx === undefined) return;
      const t0 = Date.now();
      const { pid } = await driver.start(ctx);
      const record: ServiceRecord = {
        pid,
        runDir: ctx.runDir,
        logFile: ctx.logFile,
        env: driver.env(),
        startedAt: new Date().toISOString(),
        installMs: installMs.get(name) ?? 0,
        startMs: 0,
      };
      // Recorded before the health wait, so that `down` can stop it even if `up` dies now.
      state[name] = record;
      writeState(stateDir, state);
      log.info({ service: name, pid, log: ctx.logFile }, 'started, waiting for health');
      try {
        await waitHealthy(() => driver.healthy(), {
          name,
          timeoutMs: driver.healthTimeoutMs,
          pid,
          logFile: ctx.logFile,
          intervalMs: 300,
        });
      } catch (err) {
        await stopRecord(name, record, true);
        delete state[name];
        writeState(stateDir, state);
        throw err;
      }
      state[name] = { ...record, startMs: Date.now() - t0 };
      writeState(stateDir, state);
      log.info({ service: name, installMs: record.installMs, startMs: Date.now() - t0 }, 'healthy');
    });

    const env: ServiceEnv = {};
    for (const name of wanted) Object.assign(env, DRIVERS[name].env());
    return env;
  });
}

/** Stops the servers recorded in the state folder (all, or `opts.names`) and removes their run folders. */
export async function down(opts?: DownOptions): Promise<void> {
  const stateDir = stateDirOf(opts);
  const names = opts?.names === undefined ? SERVICE_NAMES : validateNames(opts.names);
  await withLock(join(stateDir, 'up.lock'), async () => {
    const state = readState(stateDir);
    await Promise.all(
      names.map(async (name) => {
        const rec = state[name];
        if (rec === undefined) return;
        await stopRecord(name, rec, opts?.keepData ?? false);
        delete state[name];
      }),
    );
    writeState(stateDir, state);
  });
}

/** What runs, according to the state folder, and whether each server answers. */
export async function status(opts?: ManagerOptions): Promise<ServiceStatus[]> {
  const state = readState(stateDirOf(opts));
  return Promise.all(
    SERVICE_NAMES.map(async (name): Promise<ServiceStatus> => {
      const rec = state[name];
      if (rec === undefined) return { name, running: false, healthy: false };
      const running = isOurs(rec.pid, rec.runDir);
      return { name, running, healthy: running && (await probe(DRIVERS[name])), record: rec };
    }),
  );
}
