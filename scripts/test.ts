/**
 * The whole test suite in one command (`npm test`): unit, topology, integration, reliability and
 * browser (headless Debian chromium) tiers on Node's test runner, with the real servers the
 * integration tiers need started first (deploy/services) and stopped afterwards. Flags: `--tier <name>` (repeatable), `--no-services`,
 * and any further arguments are passed to `node --test` (e.g. `--test-name-pattern`).
 *
 * A hung test must never hang the run: every test has a timeout (`CAPTIONFLOW_TEST_TIMEOUT_S`,
 * default 900), test files exit once their tests are done even if a client is still connected
 * (`--test-force-exit`), and the whole run has a deadline (`CAPTIONFLOW_TEST_DEADLINE_S`, default
 * 3000) after which the test processes are killed, the servers stopped and the run fails.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const ALL_TIERS = ['unit', 'topology', 'integration', 'reliability', 'browser'] as const;
type Tier = (typeof ALL_TIERS)[number];

const args = process.argv.slice(2);
const tiers: Tier[] = [];
const passthrough: string[] = [];
let services = true;
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--tier') {
    const t = args[++i] as Tier;
    if (!ALL_TIERS.includes(t)) throw new Error(`--tier must be one of ${ALL_TIERS.join(', ')}, got ${String(t)}`);
    tiers.push(t);
  } else if (a === '--no-services') services = false;
  else passthrough.push(a);
}
const selected = tiers.length > 0 ? tiers : [...ALL_TIERS];

function findTests(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

const files = selected.flatMap((tier) => findTests(join(root, 'tests', tier))).sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

const needsServers = services && selected.some((t) => t === 'integration' || t === 'reliability');
const env: NodeJS.ProcessEnv = { ...process.env };
let down: (() => Promise<void>) | undefined;

if (needsServers) {
  const manager = await import('../deploy/services/manager.ts');
  console.log('# starting servers for integration tests (first run installs them; later runs reuse the cache)');
  // Say what a first run installs and how long it takes, before the long part starts.
  // Trino too (the SQL-over-the-lake test), unless CAPTIONFLOW_TRINO=0 leaves the heavy server out.
  const wanted = process.env.CAPTIONFLOW_TRINO === '0' ? (['kafka', 'registry', 's3', 'mongo'] as const) : (['kafka', 'registry', 's3', 'mongo', 'trino'] as const);
  for (const p of manager.installPlan([...wanted])) console.log(`#   first use: installing ${p.name}: ${p.installs}`);
  const started = Date.now();
  // Servers already running belong to someone else (a developer's `npm run services -- up`):
  // use them, and stop only the ones this run started.
  const before = new Set((await manager.status()).filter((s) => s.healthy).map((s) => s.name));
  const ours = wanted.filter((n) => !before.has(n));
  // The Kafka tests run on every client behind the EventLog port, librdkafka's too: it is not a
  // dependency (its install builds librdkafka), so it is installed into the cache beside the servers.
  const confluent = wantsConfluentClient() ? await import('../deploy/services/confluent-kafka.ts') : undefined;
  if (confluent !== undefined && !confluent.confluentKafkaInstalled())
    console.log('#   first use: installing @confluentinc/kafka-javascript: a librdkafka build from its npm tarball (about 4 min on 2 cores)');
  try {
    const [servers, client] = await Promise.all([manager.up([...wanted]), confluent?.ensureConfluentKafka()]);
    Object.assign(env, servers);
    if (client !== undefined) env.CAPTIONFLOW_KAFKA_CONFLUENT_MODULE = client.modulePath;
    down = () => manager.down({ names: ours });
    console.log(`# servers up in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } catch (err) {
    await manager.down({ names: ours }).catch(() => undefined);
    // In CI a server that does not start is a failure, not a reason to skip tests.
    console.error(`# servers failed to start: ${(err as Error).message}`);
    if (process.env.CI === 'true') process.exit(1);
    console.error('# continuing: integration tests that need them will skip');
  }
}

/** Whether the Kafka tests will run on the librdkafka client and nobody pointed them at a copy yet. */
function wantsConfluentClient(): boolean {
  if ((process.env.CAPTIONFLOW_KAFKA_CONFLUENT_MODULE ?? '') !== '') return false;
  const clients = process.env.CAPTIONFLOW_KAFKA_CLIENT ?? '';
  return clients === '' || clients.split(',').some((c) => c.trim() === 'confluent');
}

function seconds(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number of seconds, got ${String(raw)}`);
  return value;
}
const testTimeoutS = seconds('CAPTIONFLOW_TEST_TIMEOUT_S', 900);
const deadlineS = seconds('CAPTIONFLOW_TEST_DEADLINE_S', 3000);

const nodeArgs = [
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=2',
  '--test-force-exit',
  `--test-timeout=${testTimeoutS * 1000}`,
  ...passthrough,
  ...files.map((f) => relative(root, f)),
];
const startedTests = Date.now();
const code = await new Promise<number>((resolve) => {
  // Its own process group, so the deadline can take down test files and whatever they spawned.
  const child = spawn(process.execPath, nodeArgs, { cwd: root, env, stdio: 'inherit', detached: true });
  const killGroup = (sig: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      child.kill(sig);
    }
  };
  const forward = (sig: NodeJS.Signals): void => killGroup(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const deadline = setTimeout(() => {
    console.error(`# test run passed its deadline of ${deadlineS}s (CAPTIONFLOW_TEST_DEADLINE_S): killing the test processes`);
    killGroup('SIGTERM');
    setTimeout(() => killGroup('SIGKILL'), 10_000).unref();
  }, deadlineS * 1000);
  child.on('exit', (c, sig) => {
    clearTimeout(deadline);
    resolve(c ?? (sig === null ? 1 : 128));
  });
});
console.log(`# tests finished in ${((Date.now() - startedTests) / 1000).toFixed(1)}s with exit code ${code}`);
if (down !== undefined) {
  await down().catch((err: unknown) => console.error(`# stopping servers failed: ${(err as Error).message}`));
}
process.exit(code);
