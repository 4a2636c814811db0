/**
 * Small helpers shared by the benchmarks: figures are printed as ratios against a bare
 * baseline measured in the same run, because absolute times on shared machines mean little.
 */

/** Sizes: `CAPTIONFLOW_BENCH_FULL=1` runs the full sizes; CI and quick runs use the small ones. */
export const FULL = process.env.CAPTIONFLOW_BENCH_FULL === '1';

/** Time `fn`, returning seconds. */
export async function timed(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** A row of a results table. */
export interface Row {
  readonly name: string;
  readonly count: number;
  readonly seconds: number;
  readonly unit: string;
  readonly baseline?: string;
}

/** A rate for a table: whole numbers when large, three significant digits when small (images/s). */
export function formatRate(rate: number): string {
  return rate >= 100 ? rate.toFixed(0) : rate.toPrecision(3);
}

/** Print rows with rates and ratios against the named baseline rows. */
export function report(title: string, rows: readonly Row[]): void {
  console.log(`\n## ${title}`);
  const rate = (r: Row): number => r.count / r.seconds;
  for (const r of rows) {
    const base = r.baseline === undefined ? undefined : rows.find((x) => x.name === r.baseline);
    const ratio = base === undefined ? '' : `  ratio vs ${base.name}: ${(rate(r) / rate(base)).toFixed(3)}`;
    console.log(
      `${r.name.padEnd(48)} ${formatRate(rate(r)).padStart(9)} ${r.unit}/s  (${r.count} in ${r.seconds.toFixed(2)}s)${ratio}`,
    );
  }
}

/** Peak resident set size so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
