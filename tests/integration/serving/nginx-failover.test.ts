/**
 * Two `captionflow serve` replicas (child processes, distributed mode on the real servers: one
 * topic prefix, bucket and database for this test) behind a real nginx using the upstream and
 * proxy settings of the shipped deploy/nginx/captionflow.conf. Under load from 4 clients:
 * a promotion swaps both replicas with no failed request, then one replica is SIGKILLed and
 * requests keep succeeding (nginx retries the next upstream on a connection error and marks the
 * dead replica down after max_fails).
 *
 * Distributed rather than one embedded data dir per replica: an embedded data dir belongs to one
 * process, and only a shared event log lets one promotion reach both replicas as in production.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNginx, type NginxConfigContext } from '../../../deploy/services/nginx.ts';
import type { RunningServer } from '../../../deploy/services/per-test-process.ts';
import { freePort } from '../../../deploy/services/processes.ts';
import { distributedEnv, skipUnless, uniqueName } from '../services/service-env.ts';
import { multipartBody, servingFixture, solidPng, type ServingFixture } from './serving-fixture.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const skip = skipUnless('CF_KAFKA_BROKERS', 'CF_SCHEMA_REGISTRY_URL', 'CF_S3_ENDPOINT', 'CF_MONGO_URL');

/** The shipped config with the two replicas, inside a private nginx.conf listening on `ctx.port`. */
function renderShippedConfig(ports: readonly number[], ctx: NginxConfigContext): string {
  const shipped = readFileSync(join(ROOT, 'deploy/nginx/captionflow.conf'), 'utf8');
  const servers = shipped.match(/^\s*server 127\.0\.0\.1:\d+ (.*);$/gm);
  assert.ok(servers !== null && servers.length === 2, 'the shipped config lists two replicas');
  const params = /server 127\.0\.0\.1:\d+ (.*);/.exec(servers[0])![1]!;
  let body = shipped.replace(/^\s*server 127\.0\.0\.1:\d+ .*;\n/gm, '');
  body = body.replace(
    /(least_conn;[^\n]*\n)/,
    `$1${ports.map((p) => `    server 127.0.0.1:${p} ${params};\n`).join('')}`,
  );
  body = body.replace(/listen 8080;/, `listen 127.0.0.1:${ctx.port};`);
  assert.match(body, new RegExp(`server 127.0.0.1:${ports[1]} max_fails`));
  assert.match(body, new RegExp(`listen 127.0.0.1:${ctx.port};`));
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${join(ctx.prefix, 'tmp', t)};`)
    .join('\n');
  return `worker_processes 1;
error_log ${join(ctx.prefix, 'logs', 'error.log')} warn;
events { worker_connections 256; }
http {
  log_format upstreams '$msec $status $upstream_addr $upstream_status $request_time';
  access_log ${join(ctx.prefix, 'logs', 'access.log')} upstreams;
${temp}
${body}
}
`;
}

interface Replica {
  readonly port: number;
  readonly child: ChildProcess;
  readonly dir: string;
  readonly logFile: string;
}

async function startReplica(name: string): Promise<Replica> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'cf-replica-'));
  const logFile = join(dir, 'serve.log');
  const out = createWriteStream(logFile);
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/cli/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...distributedEnv(name),
      CAPTIONFLOW_DATA_DIR: dir,
      CAPTIONFLOW_HTTP_HOST: '127.0.0.1',
      CAPTIONFLOW_HTTP_PORT: String(port),
      CAPTIONFLOW_API_KEYS: 'reader-key',
      CAPTIONFLOW_WORKERS: '1',
      CAPTIONFLOW_LOG_LEVEL: 'info',
      CAPTIONFLOW_SERVING_MAX_QUEUE_DELAY_MS: '2',
      CAPTIONFLOW_SERVING_GRACE_MS: '200',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  return { port, child, dir, logFile };
}

async function stopReplica(r: Replica): Promise<void> {
  if (r.child.exitCode === null && r.child.signalCode === null) {
    const exited = new Promise((res) => r.child.once('exit', res));
    r.child.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  }
  if (process.env.CF_KEEP_REPLICA_LOGS === undefined) await rm(r.dir, { recursive: true, force: true });
}

interface Outcome {
  readonly at: number;
  readonly ok: boolean;
  readonly version?: string;
  readonly detail?: string;
}

let fx: ServingFixture;
let replicas: Replica[] = [];
let nginx: RunningServer;
let red: Buffer;
let blue: Buffer;

async function post(url: string): Promise<Outcome> {
  const { body, contentType } = multipartBody([red, blue]);
  try {
    const res = await fetch(`${url}/v1/captions`, {
      method: 'POST',
      headers: { 'content-type': contentType, 'x-api-key': 'reader-key' },
      body,
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    const at = Date.now();
    if (res.status !== 200) return { at, ok: false, detail: `${res.status} ${text.slice(0, 200)}` };
    const json = JSON.parse(text) as { modelVersion: string; results: { ok: boolean }[] };
    if (json.results.some((r) => !r.ok)) return { at, ok: false, detail: text.slice(0, 200) };
    return { at, ok: true, version: json.modelVersion };
  } catch (err) {
    return { at: Date.now(), ok: false, detail: `connection: ${(err as Error).message}` };
  }
}

/** `clients` loops posting to nginx until `stop()`; every answer is recorded in order. */
function load(clients: number): { outcomes: Outcome[]; stop: () => Promise<void> } {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped) outcomes.push(await post(nginx.url));
  });
  return {
    outcomes,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

async function waitServing(port: number, version: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  let last = '';
  while (Date.now() < deadline) {
    const o = await post(`http://127.0.0.1:${port}`);
    if (o.ok && o.version === version) return;
    last = o.detail ?? `version ${o.version}`;
    await sleep(250);
  }
  throw new Error(`replica on ${port} does not serve ${version}: ${last}`);
}

function upstreamLines(): string[] {
  const file = join(nginx.dir, 'logs', 'access.log');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
}

describe('nginx in front of two serve replicas', { skip, timeout: 240_000 }, () => {
  before(async () => {
    const name = uniqueName('cf-nginx');
    fx = await servingFixture({ 'workers.size': 1 }, distributedEnv(name));
    red = await solidPng(255, 0, 0);
    blue = await solidPng(0, 0, 255);
    await fx.promote(fx.v1, 0.1);
    replicas = [await startReplica(name), await startReplica(name)];
    try {
      await Promise.all(replicas.map((r) => waitServing(r.port, fx.v1)));
    } catch (err) {
      for (const r of replicas) process.stderr.write(readFileSync(r.logFile, 'utf8').slice(-3000));
      throw err;
    }
    nginx = await startNginx({
      configText: (ctx) => renderShippedConfig(replicas.map((r) => r.port), ctx),
    });
  });

  after(async () => {
    await nginx?.stop();
    await Promise.all(replicas.map((r) => stopReplica(r)));
    await fx?.close();
  });

  it('a promotion under load fails no request, on both replicas, and the answers switch version', async () => {
    const l = load(4);
    await sleep(1_500);
    await fx.promote(fx.v2, 0.2);
    const t0 = Date.now();
    while (Date.now() - t0 < 30_000 && !l.outcomes.slice(-12).every((o) => o.version === fx.v2))
      await sleep(100);
    await sleep(1_500);
    await l.stop();
    const failed = l.outcomes.filter((o) => !o.ok);
    const versions = l.outcomes.map((o) => o.version);
    const firstV2 = versions.indexOf(fx.v2);
    // Both replicas swap on their own; once the last one answered v2, v1 never comes back.
    const lastV1 = versions.lastIndexOf(fx.v1);
    process.stdout.write(
      `# promotion under load: ${l.outcomes.length} requests, ${failed.length} failed, ` +
        `${versions.filter((v) => v === fx.v1).length} by v1 then ${versions.filter((v) => v === fx.v2).length} by v2, ` +
        `switch window ${firstV2}..${lastV1}\n`,
    );
    assert.deepEqual(failed.map((o) => o.detail), [], 'no request failed');
    assert.ok(firstV2 > 0 && lastV1 >= 0, 'both versions answered');
    assert.ok(versions.slice(-12).every((v) => v === fx.v2), 'the answers switched to v2');
    const used = new Set(upstreamLines().map((line) => line.split(' ')[2]));
    for (const r of replicas) assert.ok(used.has(`127.0.0.1:${r.port}`), `nginx used replica ${r.port}`);
    for (const r of replicas) await waitServing(r.port, fx.v2);
  });

  it('one replica SIGKILLed under load: no failed request, none once nginx marked it down', async () => {
    const victim = replicas[0]!;
    const survivor = replicas[1]!;
    const errorLog = join(nginx.dir, 'logs', 'error.log');
    const errorLogStart = existsSync(errorLog) ? readFileSync(errorLog, 'utf8').length : 0;
    const accessStart = upstreamLines().length;
    const l = load(4);
    await sleep(2_000);
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    // Watch the error log for nginx marking the replica down ("upstream server temporarily disabled").
    let markedDownAt: number | undefined;
    while (Date.now() - killedAt < 8_000) {
      if (markedDownAt === undefined) {
        const text = readFileSync(errorLog, 'utf8').slice(errorLogStart);
        if (text.includes('upstream server temporarily disabled')) markedDownAt = Date.now();
      }
      await sleep(50);
    }
    await l.stop();
    const before = l.outcomes.filter((o) => o.at < killedAt);
    const during = l.outcomes.filter((o) => o.at >= killedAt && (markedDownAt === undefined || o.at < markedDownAt));
    const afterDown = markedDownAt === undefined ? [] : l.outcomes.filter((o) => o.at >= markedDownAt);
    const failed = l.outcomes.filter((o) => !o.ok);
    const retried = upstreamLines()
      .slice(accessStart)
      .filter((line) => line.split(' ')[2]?.includes(','));
    process.stdout.write(
      `# SIGKILL under load: ${l.outcomes.length} requests (${before.length} before the kill, ` +
        `${during.length} between the kill and nginx marking it down after ` +
        `${markedDownAt === undefined ? '-' : markedDownAt - killedAt} ms, ${afterDown.length} after); ` +
        `failed: ${before.filter((o) => !o.ok).length} / ${during.filter((o) => !o.ok).length} / ` +
        `${afterDown.filter((o) => !o.ok).length}; ${retried.length} answered by the next upstream: ` +
        `${retried.slice(0, 3).join(' | ')}\n`,
    );
    assert.equal(victim.child.signalCode, 'SIGKILL');
    assert.ok(markedDownAt !== undefined, 'nginx marked the killed replica down');
    assert.ok(afterDown.length > 20, `load kept going after it was marked down (${afterDown.length})`);
    assert.deepEqual(afterDown.filter((o) => !o.ok).map((o) => o.detail), [], 'no failure once marked down');
    assert.deepEqual(failed.map((o) => o.detail), [], 'no failure at all, the kill included');
    assert.ok(afterDown.every((o) => o.version === fx.v2), 'the survivor answers');
    await waitServing(survivor.port, fx.v2);
  });
});
