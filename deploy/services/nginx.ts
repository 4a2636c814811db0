/**
 * nginx started for one test, as a plain foreground process with its own prefix folder:
 * config, pid, logs and temp files all live there (`-p`, `-c`, `-e`, `daemon off`).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { ensureDebianPackage } from './apt.ts';
import { perTestDir, startPerTest } from './per-test-process.ts';
import type { RunningServer } from './per-test-process.ts';
import { freePort, httpOk } from './processes.ts';
import { DEBIAN, HEALTH_TIMEOUT_MS } from './versions.ts';

/** What the config of a per-test nginx is built from. */
export interface NginxConfigContext {
  /** The port nginx must listen on (127.0.0.1). */
  readonly port: number;
  /** The prefix folder (for log and temp paths). */
  readonly prefix: string;
}

/**
 * Options of {@link startNginx}: either `upstreams` (a round-robin reverse proxy over these
 * `host:port` backends is generated) or `configText`, the whole nginx.conf, given as a
 * function of the port and prefix. `configText` must not set `daemon` or `pid`: they are
 * passed on the command line.
 */
export type NginxOptions =
  { readonly upstreams: readonly string[] } | { readonly configText: (ctx: NginxConfigContext) => string };

/** Installs nginx if missing and returns its binary. */
export async function ensureNginx(): Promise<string> {
  return ensureDebianPackage(DEBIAN.nginx.pkg, DEBIAN.nginx.binary);
}

function tempPaths(prefix: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${join(prefix, 'tmp', t)};`)
    .join('\n');
}

/** The config for `upstreams`: one server proxying round-robin to every backend. */
export function roundRobinConfig(upstreams: readonly string[], ctx: NginxConfigContext): string {
  return `worker_processes 1;
error_log ${join(ctx.prefix, 'logs', 'error.log')} warn;
events { worker_connections 128; }
http {
  access_log ${join(ctx.prefix, 'logs', 'access.log')};
${tempPaths(ctx.prefix)}
  upstream backends {
${upstreams.map((u) => `    server ${u};`).join('\n')}
  }
  server {
    listen 127.0.0.1:${ctx.port};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}
`;
}

/** Starts nginx on a free 127.0.0.1 port and waits until it answers HTTP. */
export async function startNginx(opts: NginxOptions): Promise<RunningServer> {
  const bin = await ensureNginx();
  const prefix = perTestDir('nginx');
  // Workers drop root for `nobody`: they must be able to reach the temp folders.
  chmodSync(prefix, 0o755);
  mkdirSync(join(prefix, 'logs'));
  for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    const d = join(prefix, 'tmp', t);
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o777);
  }
  const port = await freePort();
  const ctx: NginxConfigContext = { port, prefix };
  let text: string;
  if ('upstreams' in opts) {
    if (opts.upstreams.length === 0) {
      throw new PipelineError(ErrorCodes.CONFIG_INVALID, 'startNginx: upstreams is empty', {
        context: { opts },
      });
    }
    text = roundRobinConfig(opts.upstreams, ctx);
  } else {
    text = opts.configText(ctx);
  }
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, text);
  const url = `http://127.0.0.1:${port}`;
  return startPerTest({
    name: 'nginx',
    dir: prefix,
    cmd: bin,
    args: [
      '-p',
      prefix,
      '-c',
      conf,
      '-e',
      join(prefix, 'logs', 'error.log'),
      '-g',
      `daemon off; pid ${join(prefix, 'nginx.pid')};`,
    ],
    url,
    // Any HTTP answer (even a 502 from a backend that is not up yet) means nginx listens.
    probe: () => httpOk(url, () => true),
    timeoutMs: HEALTH_TIMEOUT_MS.nginx,
  });
}
