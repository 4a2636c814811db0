/**
 * The step-duration histogram's per-observation cost, in one process, against a bare
 * prom-client `histogram.observe(labels, v)` loop on the same label set and values:
 *  - prom-client's own `histogram.labels(...)` child, kept as the handle;
 *  - before: the handle runtime/metrics.ts used until it stopped editing prom-client's private
 *    `hashMap` (copied here from git history, as it was);
 *  - after: `Metrics.observer(labels)` (plain numbers, published when scraped), and
 *    `Metrics.observe(labels, v)` (looks the series up per call, for cold paths).
 * Run: `npx tsx tests/bench/metrics.ts [--rounds N]` (CAPTIONFLOW_BENCH_FULL=1 for 20 000 000 observations).
 */
import { Histogram, Registry } from 'prom-client';
import { LABELS, Metrics } from '../../runtime/metrics.ts';
import { FULL, Samples, report, roundsArg, spread, timed, type Row } from './harness.ts';

const N = FULL ? 20_000_000 : 2_000_000;
const ROUNDS = roundsArg(5);
const BOUNDS = [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
const labels = { topology: 'bench', step: 'map', schema_id: '1', model_version: '', outcome: '' };

/** Durations spread over the buckets, made up front so every loop observes the same values. */
const values = new Float64Array(4096);
for (let i = 0; i < values.length; i++) values[i] = Math.exp(-9 + (i % 97) / 8);

function promHistogram(): Histogram<(typeof LABELS)[number]> {
  return new Histogram({
    name: 'bench_seconds',
    help: 'bench',
    labelNames: LABELS,
    buckets: [...BOUNDS],
    registers: [new Registry()],
  });
}

/** The pre-change handle: a zeroed child, then its private `{ sum, count, bucketValues }` entry edited in place. */
function hashMapHandle(h: Histogram<(typeof LABELS)[number]>): (seconds: number) => void {
  h.zero(labels);
  const internal = h as unknown as {
    hashMap?: Record<
      string,
      { labels: Record<string, string>; sum: number; count: number; bucketValues: Record<string, number> }
    >;
  };
  const entry = Object.values(internal.hashMap ?? {}).find((e) =>
    LABELS.every((l) => e.labels[l] === labels[l]),
  );
  if (entry === undefined)
    throw new Error('prom-client internals changed: the before handle cannot be rebuilt');
  return (seconds) => {
    entry.sum += seconds;
    entry.count += 1;
    for (const b of BOUNDS) {
      if (seconds <= b) {
        entry.bucketValues[b] = (entry.bucketValues[b] ?? 0) + 1;
        return;
      }
    }
  };
}

const BARE = 'prom-client histogram.observe(labels, v)';
const CHILD = 'prom-client histogram.labels(...).observe(v)';
const BEFORE = 'before: hashMap edited in place';
const AFTER = 'after: Metrics.observer(labels) handle';
const BY_LABELS = 'after: Metrics.observe(labels, v)';

const loops: Record<string, () => (v: number) => void> = {
  [BARE]: () => {
    const h = promHistogram();
    return (v) => h.observe(labels, v);
  },
  [CHILD]: () => {
    const child = promHistogram().labels(labels);
    return (v) => child.observe(v);
  },
  [BEFORE]: () => hashMapHandle(promHistogram()),
  [AFTER]: () => new Metrics().observer(labels),
  [BY_LABELS]: () => {
    const m = new Metrics();
    return (v) => m.observe(labels, v);
  },
};

const samples = new Samples();
let checksum = 0;
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, make] of Object.entries(loops)) {
    const observe = make();
    const s = await timed(() => {
      for (let i = 0; i < N; i++) observe(values[i & 4095]!);
      return Promise.resolve();
    });
    checksum += s > 0 ? 1 : 0;
    samples.add(name, s);
  }
}
const row = (name: string): Row => ({
  name,
  count: N,
  seconds: samples.get(name),
  unit: 'obs',
  ...(name === BARE ? {} : { baseline: BARE }),
});
console.log(`${N} observations of one series, ${ROUNDS} interleaved rounds (${checksum} runs)`);
report('Step-duration histogram: observations per second', [BARE, CHILD, BEFORE, AFTER, BY_LABELS].map(row));
for (const name of [BEFORE, AFTER, BY_LABELS]) {
  console.log(`${name.padEnd(48)} ${((spread(samples.get(name)).median / N) * 1e9).toFixed(1)} ns an observation (median)`);
}
