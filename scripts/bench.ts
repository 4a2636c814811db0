/**
 * `npm run bench`: every benchmark in tests/bench/, one after another, each in its own process
 * (a benchmark's JIT and heap state must not colour the next one). Names on the command line
 * run a subset (`npm run bench -- avro-serde kafka-passthrough`); CAPTIONFLOW_BENCH_FULL=1 runs
 * the full sizes; `--rounds N` sets every benchmark's rounds (CAPTIONFLOW_BENCH_ROUNDS). Benchmarks print ratios against a baseline measured in the same run; they
 * never pass or fail on timing. Exits non-zero when a benchmark itself fails.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = new URL('../tests/bench/', import.meta.url).pathname;
/** Shared helpers, not benchmarks. */
const HELPERS = new Set(['harness', 'events', 'photos', 'serving-model', 'serving-bare-worker']);
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .filter((name) => !HELPERS.has(name))
  .sort();
const args = process.argv.slice(2);
const roundsAt = args.findIndex((a) => a === '--rounds' || a.startsWith('--rounds='));
const rounds = roundsAt < 0 ? undefined : args[roundsAt]!.includes('=') ? args[roundsAt]!.split('=')[1] : args[roundsAt + 1];
const wanted = args.filter((a, i) => roundsAt < 0 || (i !== roundsAt && (i !== roundsAt + 1 || args[roundsAt]!.includes('='))));
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; there are: ${all.join(', ')}`);
  process.exit(2);
}
const failed: string[] = [];
for (const name of wanted.length > 0 ? wanted : all) {
  console.log(`\n# ${name}`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(dir, `${name}.ts`)], {
    stdio: 'inherit',
    env: rounds === undefined ? process.env : { ...process.env, CAPTIONFLOW_BENCH_ROUNDS: rounds },
  });
  if (run.status !== 0) failed.push(name);
}
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(', ')}`);
  process.exit(1);
}
