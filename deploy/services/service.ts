/**
 * The contract each long-running local server implements, so that the manager can install,
 * start, probe and describe them all the same way.
 */

/** The servers `up` knows how to run. */
export type ServiceName = 'kafka' | 'registry' | 's3' | 'mongo' | 'trino';

/** Every service name, in start order. */
export const SERVICE_NAMES: readonly ServiceName[] = ['kafka', 'registry', 's3', 'mongo', 'trino'];

/** The servers `up` starts when none are named: all but the opt-in Trino (heavy; needs s3). */
export const DEFAULT_SERVICE_NAMES: readonly ServiceName[] = ['kafka', 'registry', 's3', 'mongo'];

/** Env vars the tests and the distributed adapters read (`CF_*`). */
export type ServiceEnv = Record<string, string>;

/** Where a service's run lives: a fresh folder per start, inside the state folder. */
export interface RunContext {
  /** Fresh, empty folder for this run: data, configs, temp files. */
  readonly runDir: string;
  /** The server's stdout and stderr. */
  readonly logFile: string;
  /** Install and build output. */
  readonly installLog: string;
}

/** What a started service gives back to be recorded in the state file. */
export interface Started {
  readonly pid: number;
}

/** One local server. */
export interface ServiceDriver {
  readonly name: ServiceName;
  /** Servers that must be healthy before this one starts; `up` starts them too. */
  readonly needs?: readonly ServiceName[];
  /** Ports it listens on (all on 127.0.0.1); `up` refuses to start it if one is taken. */
  readonly ports: readonly number[];
  /** Health-check budget, in ms. */
  readonly healthTimeoutMs: number;
  /** How long `down` waits after SIGTERM before SIGKILL, in ms. */
  readonly stopGraceMs: number;
  /** What a first install fetches or builds and roughly how long it takes on 2 cores (said before installing). */
  readonly installs: string;
  /** True when the cache already holds what `install` would fetch or build. */
  installed(): boolean;
  /** Installs what is missing into the cache; does nothing when it is there already. */
  install(ctx: RunContext): Promise<void>;
  /** Prepares `ctx.runDir` and starts the server in the background. */
  start(ctx: RunContext): Promise<Started>;
  /** Resolves true once the server answers real requests. */
  healthy(): Promise<boolean>;
  /** The env vars pointing at this server. */
  env(): ServiceEnv;
  /** Removes what the server leaves outside its run folder once it is stopped. */
  afterStop?(): void;
}
