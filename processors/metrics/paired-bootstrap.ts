import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';

/** Settings of {@link pairedBootstrap}. */
export interface PairedBootstrapOptions {
  /** Bootstrap resamples (default 2000). */
  readonly resamples?: number;
  /** Seed of the resampling: the same scores and seed give the same interval (default 1). */
  readonly seed?: number;
  /** Two-sided confidence level of the interval (default 0.95). */
  readonly confidence?: number;
}

/** The difference candidate − champion of a per-image score, with its bootstrap interval. */
export interface PairedComparison {
  /** Images compared (both models scored on each). */
  readonly n: number;
  /** Mean per-image difference: the corpus score difference when the score is a per-image mean. */
  readonly meanDiff: number;
  /** Lower and upper bounds of the percentile bootstrap interval of the mean difference. */
  readonly low: number;
  readonly high: number;
  readonly confidence: number;
  readonly resamples: number;
  readonly seed: number;
  /** Share of resamples where the candidate's mean was not above the champion's. */
  readonly pNotBetter: number;
}

/**
 * Paired bootstrap of the mean per-image score difference between a candidate and a champion
 * scored on the same images (e.g. CIDEr-D's per-image scores, which on one test split share the
 * references' document frequencies and are thus comparable image by image). Images are drawn
 * with replacement, the same draw for both models, so the interval reflects how much the gain
 * depends on which images happen to be in the split — a gain inside that noise has a lower bound
 * at or below zero.
 *
 * @throws PipelineError `METRICS_INPUT_INVALID` when the arrays are empty, differ in length,
 *   hold a non-finite score, or an option is out of range.
 */
export function pairedBootstrap(
  candidate: readonly number[],
  champion: readonly number[],
  options: PairedBootstrapOptions = {},
): PairedComparison {
  const resamples = options.resamples ?? 2000;
  const seed = options.seed ?? 1;
  const confidence = options.confidence ?? 0.95;
  if (candidate.length === 0 || candidate.length !== champion.length) {
    throw new PipelineError(
      ErrorCodes.METRICS_INPUT_INVALID,
      `paired scores need the same non-zero number of images (candidate ${candidate.length}, champion ${champion.length})`,
    );
  }
  if (!Number.isInteger(resamples) || resamples < 100) {
    throw new PipelineError(ErrorCodes.METRICS_INPUT_INVALID, `resamples must be an integer >= 100, got ${resamples}`);
  }
  if (!(confidence > 0 && confidence < 1)) {
    throw new PipelineError(ErrorCodes.METRICS_INPUT_INVALID, `confidence must be in (0, 1), got ${confidence}`);
  }
  const diffs = candidate.map((c, i) => c - (champion[i] ?? Number.NaN));
  if (diffs.some((d) => !Number.isFinite(d))) {
    throw new PipelineError(ErrorCodes.METRICS_INPUT_INVALID, 'paired scores must be finite numbers');
  }
  const n = diffs.length;
  const meanDiff = diffs.reduce((a, b) => a + b, 0) / n;
  const random = mulberry32(seed);
  const means = new Float64Array(resamples);
  let notBetter = 0;
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let k = 0; k < n; k++) sum += diffs[Math.floor(random() * n)] ?? 0;
    const mean = sum / n;
    means[r] = mean;
    if (mean <= 0) notBetter++;
  }
  means.sort();
  const tail = (1 - confidence) / 2;
  return {
    n,
    meanDiff,
    low: quantile(means, tail),
    high: quantile(means, 1 - tail),
    confidence,
    resamples,
    seed,
    pNotBetter: notBetter / resamples,
  };
}

/** Linear-interpolation quantile (numpy's default) of sorted values. */
function quantile(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const a = sorted[lo] ?? 0;
  const b = sorted[hi] ?? 0;
  return a + (b - a) * (pos - lo);
}

/**
 * A small seeded generator (mulberry32): the gate must give the same verdict on a re-run, and
 * processors/ may not reach for a library with state of its own; 32 bits of state are plenty
 * for drawing image indices.
 */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
