import { countNgrams } from './ngrams.ts';
import type { TokenizedSample } from './tokenized-sample.ts';

/** Corpus BLEU-1..n and, for each order, the per-image (sentence-level) scores. */
export interface BleuResult {
  /** `scores[k - 1]` is corpus BLEU-k. */
  readonly scores: readonly number[];
  /** `perImage[k - 1][i]` is sentence BLEU-k of image i, smoothed as pycocoevalcap does. */
  readonly perImage: readonly (readonly number[])[];
}

// pycocoevalcap's guards against 0/0: with no n-gram matched a precision is ~1e-15/1e-9, not 0.
const SMALL = 1e-9;
const TINY = 1e-15;

/**
 * Corpus-level BLEU as computed by pycocoevalcap's `Bleu(n).compute_score`
 * (`BleuScorer.compute_score(option='closest')`): clipped n-gram matches and guesses are
 * summed over the corpus, the reference length of each image is the one closest to its
 * hypothesis length (ties go to the shorter reference), the brevity penalty uses the summed
 * lengths, and zero counts are smoothed with the same `tiny`/`small` constants, so that the
 * numbers match the reference implementation to floating-point precision.
 */
export function corpusBleu(samples: readonly TokenizedSample[], maxOrder = 4): BleuResult {
  const correctTotal = new Array<number>(maxOrder).fill(0);
  const guessTotal = new Array<number>(maxOrder).fill(0);
  const perImage: number[][] = Array.from({ length: maxOrder }, () => []);
  let testLenTotal = 0;
  let refLenTotal = 0;

  for (const { hyp, refs } of samples) {
    const maxRefCounts = new Map<string, number>();
    for (const ref of refs) {
      for (const counts of countNgrams(ref, maxOrder)) {
        for (const [gram, count] of counts) {
          maxRefCounts.set(gram, Math.max(maxRefCounts.get(gram) ?? 0, count));
        }
      }
    }
    const testLen = hyp.length;
    const refLen = closestRefLength(
      refs.map((r) => r.length),
      testLen,
    );
    const correct = countNgrams(hyp, maxOrder).map((counts) => {
      let matched = 0;
      for (const [gram, count] of counts) matched += Math.min(maxRefCounts.get(gram) ?? 0, count);
      return matched;
    });
    const guess = Array.from({ length: maxOrder }, (_, k) => Math.max(0, testLen - k));

    testLenTotal += testLen;
    refLenTotal += refLen;
    const sentence = cumulativeBleu(correct, guess, testLen, refLen);
    for (let k = 0; k < maxOrder; k++) {
      correctTotal[k] = (correctTotal[k] ?? 0) + (correct[k] ?? 0);
      guessTotal[k] = (guessTotal[k] ?? 0) + (guess[k] ?? 0);
      perImage[k]?.push(sentence[k] ?? 0);
    }
  }

  return { scores: cumulativeBleu(correctTotal, guessTotal, testLenTotal, refLenTotal), perImage };
}

/** The 'closest' effective reference length: min by (|l - testLen|, l). */
function closestRefLength(refLens: readonly number[], testLen: number): number {
  let best = Number.POSITIVE_INFINITY;
  let bestLen = 0;
  for (const len of refLens) {
    const diff = Math.abs(len - testLen);
    if (diff < best || (diff === best && len < bestLen)) {
      best = diff;
      bestLen = len;
    }
  }
  return bestLen;
}

/** BLEU-1..n from match/guess counts: geometric mean of precisions times the brevity penalty. */
function cumulativeBleu(
  correct: readonly number[],
  guess: readonly number[],
  testLen: number,
  refLen: number,
): number[] {
  const out: number[] = [];
  let product = 1;
  for (let k = 0; k < correct.length; k++) {
    product *= ((correct[k] ?? 0) + TINY) / ((guess[k] ?? 0) + SMALL);
    out.push(product ** (1 / (k + 1)));
  }
  const ratio = (testLen + TINY) / (refLen + SMALL);
  if (ratio < 1) {
    const penalty = Math.exp(1 - 1 / ratio);
    return out.map((b) => b * penalty);
  }
  return out;
}
