/**
 * deploy/compose: the compose file is valid for the compose CLI (Debian's docker-compose 1.29,
 * installed through deploy/services/apt.ts; `config` needs no Docker engine), every
 * CAPTIONFLOW_* variable it sets is a real config key, and the Dockerfile is the production
 * install, non-root, with a health check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ENV_KEYS } from '../../../runtime/config.ts';
import { ensureDebianPackage } from '../../../deploy/services/apt.ts';
import { DEBIAN } from '../../../deploy/services/versions.ts';

const DIR = fileURLToPath(new URL('../../../deploy/compose/', import.meta.url));
const FILE = `${DIR}compose.yaml`;
/** The secrets the file requires (`${VAR:?…}`). */
const REQUIRED = { S3_SECRET_KEY: 'test-secret', CAPTIONFLOW_API_KEYS: 'test-key' };

interface Service {
  image?: string;
  command?: string[];
  profiles?: string[];
  environment?: Record<string, string | number>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  volumes?: string[];
}

async function composeConfig(env: Record<string, string>, ...args: string[]): Promise<string> {
  const bin = await ensureDebianPackage(DEBIAN.dockerCompose.pkg, DEBIAN.dockerCompose.binary);
  const { stdout } = await promisify(execFile)(bin, ['-f', FILE, ...args], { cwd: DIR, env: { PATH: process.env.PATH ?? '', ...env } });
  return stdout;
}

test('docker-compose accepts the file (config -q) and refuses it without the required secrets', async () => {
  await composeConfig(REQUIRED, 'config', '-q');
  await composeConfig(REQUIRED, '--profile', 'trino', 'config', '-q');
  await assert.rejects(composeConfig({}, 'config', '-q'), /S3_SECRET_KEY|CAPTIONFLOW_API_KEYS/);
});

test('the resolved file: replicas, health checks, depends_on conditions, profiles, mounts', async () => {
  const doc = parse(await composeConfig(REQUIRED, '--profile', 'trino', 'config')) as { services: Record<string, Service> };
  const s = doc.services;
  assert.deepEqual(Object.keys(s).sort(), ['grafana', 'kafka', 'minio', 'mongodb', 'nginx', 'prometheus', 'query', 'registry', 'run', 'serve', 'trino']);
  for (const name of ['run', 'serve']) {
    const svc = s[name]!;
    assert.ok((svc.deploy?.replicas ?? 1) >= 2, `${name} runs replicas`);
    assert.deepEqual(svc.command, ['captionflow', name]);
    assert.equal(svc.environment?.CAPTIONFLOW_MODE, 'distributed');
    for (const dep of ['kafka', 'registry', 'minio', 'mongodb']) assert.equal(svc.depends_on?.[dep]?.condition, 'service_healthy', `${name} waits for ${dep}`);
  }
  // The query replica: the same image and settings, its own command.
  assert.deepEqual(s.query!.command, ['captionflow', 'query']);
  assert.equal(s.query!.environment?.CAPTIONFLOW_MODE, 'distributed');
  for (const dep of ['kafka', 'registry', 'minio', 'mongodb']) assert.equal(s.query!.depends_on?.[dep]?.condition, 'service_healthy', `query waits for ${dep}`);
  // One consumer group per topology across the `run` replicas: they share the namespace.
  assert.equal(s.run!.environment?.CAPTIONFLOW_TOPIC_PREFIX, s.serve!.environment?.CAPTIONFLOW_TOPIC_PREFIX);
  for (const [name, svc] of Object.entries(s)) if (name !== 'trino') assert.ok(svc.healthcheck?.test.length, `${name} has a health check`);
  assert.deepEqual(s.trino!.profiles, ['trino']);
  assert.equal(s.nginx!.depends_on?.serve?.condition, 'service_healthy');
  assert.equal(s.grafana!.depends_on?.prometheus?.condition, 'service_healthy');
  // Prometheus' DNS service discovery names the compose services.
  const prom = parse(readFileSync(fileURLToPath(new URL('../../../deploy/prometheus/prometheus.yml', import.meta.url)), 'utf8')) as {
    scrape_configs: { dns_sd_configs?: { names: string[]; port: number }[] }[];
  };
  const sdNames = prom.scrape_configs.flatMap((c) => c.dns_sd_configs ?? []).flatMap((d) => d.names);
  assert.deepEqual(sdNames.filter((n) => s[n] === undefined), []);
  for (const d of prom.scrape_configs.flatMap((c) => c.dns_sd_configs ?? [])) assert.equal(String(d.port), String(s.run!.environment?.CAPTIONFLOW_HTTP_PORT));
  assert.ok(s.prometheus!.volumes?.some((v) => v.endsWith('/deploy/prometheus:/etc/prometheus:ro')));
  assert.ok(s.nginx!.volumes?.some((v) => v.includes('/deploy/nginx/captionflow.conf:')));
});

test('every CAPTIONFLOW_* variable the compose file sets is a config key', () => {
  const names = new Set([...readFileSync(FILE, 'utf8').matchAll(/^\s+(CAPTIONFLOW_[A-Z0-9_]+)\s*:/gm)].map((m) => m[1]!));
  assert.ok(names.size >= 10, `${names.size} variables`);
  assert.deepEqual([...names].filter((n) => !(n in ENV_KEYS)), []);
  const dockerfile = readFileSync(`${DIR}Dockerfile`, 'utf8');
  const fromDockerfile = [...dockerfile.matchAll(/\b(CAPTIONFLOW_[A-Z0-9_]+)=/g)].map((m) => m[1]!);
  // CAPTIONFLOW_CACHE is the trainer's venv cache (trainer/setup-venv.sh), not a config key.
  assert.deepEqual(fromDockerfile.filter((n) => !(n in ENV_KEYS) && n !== 'CAPTIONFLOW_CACHE'), []);
});

test('the Dockerfile: build stage, production install, non-root, health check, captionflow run', () => {
  const d = readFileSync(`${DIR}Dockerfile`, 'utf8');
  const stages = d.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2);
  assert.match(stages[0]!, /RUN npm ci\b/);
  assert.match(stages[0]!, /RUN npm run build/);
  const runtime = stages[1]!;
  assert.match(runtime, /npm ci --omit=dev/);
  assert.match(runtime, /COPY --from=build \/src\/dist\//);
  for (const dir of ['bin/', 'trainer/']) assert.ok(runtime.includes(`COPY ${dir}`), dir);
  assert.match(runtime, /^USER (?!root)\w+/m);
  assert.match(runtime, /^HEALTHCHECK .*\n?.*\/healthz/m);
  assert.match(runtime, /^CMD \["captionflow", "run"\]/m);
  const ignore = readFileSync(fileURLToPath(new URL('../../../.dockerignore', import.meta.url)), 'utf8').split('\n');
  for (const p of ['node_modules', 'dist', '.git']) assert.ok(ignore.includes(p), `.dockerignore has ${p}`);
});
