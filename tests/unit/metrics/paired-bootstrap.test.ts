import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairedBootstrap } from '../../../processors/metrics/index.ts';
import { PipelineError } from '../../../schemas/errors.ts';

/** Deterministic pseudo-normal noise (Box–Muller over a fixed LCG) for constructed per-image scores. */
function noise(n: number, seed: number, sd: number): number[] {
  let s = seed;
  const u = () => ((s = (s * 1103515245 + 12345) % 2147483648) + 1) / 2147483649;
  return Array.from({ length: n }, () => sd * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

const champion = noise(99, 7, 0.6).map((x) => 1.7 + x);

test('a gain inside the noise: the mean difference is positive but the interval reaches below zero', () => {
  // Candidate = champion + a per-image swing of ±0.8 around a +0.03 gain: 99 images cannot tell.
  const swing = noise(99, 11, 0.8);
  const mean = swing.reduce((a, b) => a + b, 0) / swing.length;
  const candidate = champion.map((c, i) => c + 0.03 + swing[i]! - mean);
  const r = pairedBootstrap(candidate, champion, { resamples: 2000, seed: 1 });
  assert.ok(Math.abs(r.meanDiff - 0.03) < 1e-9, `mean difference ${r.meanDiff}`);
  assert.ok(r.low < 0 && r.high > 0.03, `interval [${r.low}, ${r.high}] straddles zero`);
  assert.ok(r.pNotBetter > 0.2, `often not better (${r.pNotBetter})`);
  assert.equal(r.n, 99);
});

test('a clear gain: the whole interval lies above the margin', () => {
  const candidate = champion.map((c, i) => c + 0.3 + noise(99, 13, 0.1)[i]!);
  const r = pairedBootstrap(candidate, champion, { resamples: 2000, seed: 1 });
  assert.ok(r.low > 0.2 && r.high < 0.4, `interval [${r.low}, ${r.high}]`);
  assert.equal(r.pNotBetter, 0);
});

test('the same scores and seed give the same interval; another seed a slightly different one', () => {
  const candidate = champion.map((c, i) => c + noise(99, 17, 0.5)[i]!);
  const a = pairedBootstrap(candidate, champion, { seed: 5 });
  assert.deepEqual(pairedBootstrap(candidate, champion, { seed: 5 }), a);
  const b = pairedBootstrap(candidate, champion, { seed: 6 });
  assert.notEqual(b.low, a.low);
  assert.equal(b.meanDiff, a.meanDiff);
  assert.equal(a.resamples, 2000);
  assert.equal(a.confidence, 0.95);
});

test('mismatched, empty or non-finite scores and bad options are METRICS_INPUT_INVALID', () => {
  const invalid = (f: () => unknown) => assert.throws(f, (e: unknown) => e instanceof PipelineError && e.code === 'METRICS_INPUT_INVALID');
  invalid(() => pairedBootstrap([1, 2], [1]));
  invalid(() => pairedBootstrap([], []));
  invalid(() => pairedBootstrap([1, Number.NaN], [1, 2]));
  invalid(() => pairedBootstrap([1], [1], { resamples: 10 }));
  invalid(() => pairedBootstrap([1], [1], { confidence: 1 }));
});
