/**
 * Small helpers shared by the benchmarks: figures are printed as ratios against a bare
 * baseline measured in the same run, because absolute times on shared machines mean little.
 * Every benchmark runs its sides interleaved for a number of rounds (`--rounds N`) and prints
 * the median with the spread (min–max) of the rounds, and the median and spread of the
 * per-round ratios: a ratio taken within one round compares two sides under the same load.
 */
import { loadavg } from 'node:os';

/** Sizes: `CAPTIONFLOW_BENCH_FULL=1` runs the full sizes; CI and quick runs use the small ones. */
export const FULL = process.env.CAPTIONFLOW_BENCH_FULL === '1';

/**
 * Rounds of a benchmark: `--rounds N` (or `--rounds=N`) on the command line, else
 * `CAPTIONFLOW_BENCH_ROUNDS`, else `fallback`. Invalid values fail with a message naming them.
 */
export function roundsArg(fallback: number, argv: readonly string[] = process.argv): number {
  let raw: string | undefined = process.env.CAPTIONFLOW_BENCH_ROUNDS;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--rounds') raw = argv[i + 1];
    else if (a.startsWith('--rounds=')) raw = a.slice('--rounds='.length);
  }
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--rounds: expected a whole number >= 1, got ${JSON.stringify(raw)}`);
  return n;
}

/** Time `fn`, returning seconds. */
export async function timed(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Median and spread of a sample. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

/** Median, min and max of `values` (not empty). */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** `median [min–max]` with `digits` decimals. */
export function formatSpread(x: Spread, digits = 3, format: (v: number) => string = (v) => v.toFixed(digits)): string {
  return x.n === 1 ? format(x.median) : `${format(x.median)} [${format(x.min)}–${format(x.max)}]`;
}

/** Per-round samples by name, collected while the sides run interleaved. */
export class Samples {
  private readonly byName = new Map<string, number[]>();
  /** Record one round's value of `name`. */
  add(name: string, value: number): void {
    const list = this.byName.get(name);
    if (list === undefined) this.byName.set(name, [value]);
    else list.push(value);
  }
  /** The values of `name` in round order (empty when none). */
  get(name: string): readonly number[] {
    return this.byName.get(name) ?? [];
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
}

/** A row of a results table: the seconds of each round, in round order. */
export interface Row {
  readonly name: string;
  readonly count: number;
  readonly seconds: number | readonly number[];
  readonly unit: string;
  readonly baseline?: string;
}

/** A rate for a table: whole numbers when large, three significant digits when small (images/s). */
export function formatRate(rate: number): string {
  return rate >= 100 ? rate.toFixed(0) : rate.toPrecision(3);
}

function rounds(r: Row): readonly number[] {
  return typeof r.seconds === 'number' ? [r.seconds] : r.seconds;
}

/** Rates of a row, one per round. */
export function rates(r: Row): number[] {
  return rounds(r).map((s) => r.count / s);
}

/**
 * Per-round ratios of `a`'s rate over `b`'s: round i against round i (the same load); when the
 * two have different numbers of rounds, every pair of medians is all there is to compare.
 */
export function ratios(a: readonly number[], b: readonly number[]): number[] {
  if (a.length === b.length) return a.map((x, i) => x / b[i]!);
  return [spread(a).median / spread(b).median];
}

/** The load average, to print beside figures taken on a shared machine. */
export function loadLine(): string {
  return `load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

/**
 * Print rows with the median rate and its spread over the rounds, and the median and spread of
 * the per-round ratios against the named baseline rows.
 */
export function report(title: string, rows: readonly Row[]): void {
  const n = Math.max(...rows.map((r) => rounds(r).length));
  console.log(`\n## ${title}`);
  console.log(`(${n === 1 ? '1 round' : `median [min–max] of ${n} interleaved rounds`}; ${loadLine()})`);
  for (const r of rows) {
    const base = r.baseline === undefined ? undefined : rows.find((x) => x.name === r.baseline);
    const rate = spread(rates(r));
    const ratio = base === undefined ? '' : `  ratio vs ${base.name}: ${formatSpread(spread(ratios(rates(r), rates(base))))}`;
    console.log(`${r.name.padEnd(48)} ${formatSpread(rate, 0, formatRate).padStart(9)} ${r.unit}/s${ratio}`);
  }
}

/** Peak resident set size so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
