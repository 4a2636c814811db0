/**
 * The whole test suite in one command (`npm test`): unit, topology, integration and reliability
 * tiers on Node's test runner, with the real servers the integration tiers need started first
 * (deploy/services) and stopped afterwards. Flags: `--tier <name>` (repeatable), `--no-services`,
 * and any further arguments are passed to `node --test` (e.g. `--test-name-pattern`).
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const ALL_TIERS = ['unit', 'topology', 'integration', 'reliability'] as const;
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
  const started = Date.now();
  // Servers already running belong to someone else (a developer's `npm run services -- up`):
  // use them, and stop only the ones this run started.
  const before = new Set((await manager.status()).filter((s) => s.healthy).map((s) => s.name));
  const wanted = ['kafka', 'registry', 's3', 'mongo'] as const;
  const ours = wanted.filter((n) => !before.has(n));
  try {
    Object.assign(env, await manager.up([...wanted]));
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

const nodeArgs = ['--import', 'tsx', '--test', '--test-concurrency=2', ...passthrough, ...files.map((f) => relative(root, f))];
const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, nodeArgs, { cwd: root, env, stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (c, sig) => resolve(c ?? (sig === null ? 1 : 128)));
});
if (down !== undefined) {
  await down().catch((err: unknown) => console.error(`# stopping servers failed: ${(err as Error).message}`));
}
process.exit(code);
