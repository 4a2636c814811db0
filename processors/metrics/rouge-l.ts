import type { CorpusScore, TokenizedSample } from './tokenized-sample.ts';

const BETA = 1.2;

/**
 * ROUGE-L as computed by pycocoevalcap's `Rouge().compute_score`: per image, the longest
 * common subsequence with each reference gives a precision and a recall; the best precision
 * and the best recall (taken independently, over all references) are combined into an
 * F-measure with beta = 1.2; the corpus score is the mean over images.
 *
 * pycocoevalcap splits on a single space, so an empty caption is one empty token, not zero
 * tokens; that is reproduced here (it only matters when a caption is empty).
 */
export function rougeL(samples: readonly TokenizedSample[]): CorpusScore {
  const perImage = samples.map(({ hyp, refs }) => sentenceRougeL(hyp, refs));
  const score = perImage.length === 0 ? Number.NaN : perImage.reduce((a, b) => a + b, 0) / perImage.length;
  return { score, perImage };
}

/** ROUGE-L F-measure (beta = 1.2) of one hypothesis against its references. */
export function sentenceRougeL(hyp: readonly string[], refs: readonly (readonly string[])[]): number {
  const candidate = asSpaceSplit(hyp);
  let precMax = 0;
  let recMax = 0;
  for (const ref of refs) {
    const reference = asSpaceSplit(ref);
    const lcs = lcsLength(reference, candidate);
    precMax = Math.max(precMax, lcs / candidate.length);
    recMax = Math.max(recMax, lcs / reference.length);
  }
  if (precMax === 0 || recMax === 0) return 0;
  return ((1 + BETA ** 2) * precMax * recMax) / (recMax + BETA ** 2 * precMax);
}

function asSpaceSplit(tokens: readonly string[]): readonly string[] {
  return tokens.length === 0 ? [''] : tokens;
}

/** Length of the longest common subsequence, in O(|a|·|b|) time and O(min) memory. */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  const [long, short] = a.length >= b.length ? [a, b] : [b, a];
  let prev = new Array<number>(short.length + 1).fill(0);
  let curr = new Array<number>(short.length + 1).fill(0);
  for (const token of long) {
    for (let j = 1; j <= short.length; j++) {
      curr[j] = token === short[j - 1] ? (prev[j - 1] ?? 0) + 1 : Math.max(prev[j] ?? 0, curr[j - 1] ?? 0);
    }
    [prev, curr] = [curr, prev];
  }
  return prev[short.length] ?? 0;
}
