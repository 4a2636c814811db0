import { countNgrams } from './ngrams.ts';
import type { CorpusScore, TokenizedSample } from './tokenized-sample.ts';

/** Parameters of CIDEr-D; the defaults are the published ones and pycocoevalcap's. */
export interface CiderDOptions {
  /** Largest n-gram order (default 4). */
  readonly maxOrder?: number;
  /** Standard deviation of the Gaussian length penalty (default 6). */
  readonly sigma?: number;
}

interface TfIdfVector {
  readonly weights: Map<string, number>[];
  readonly norms: number[];
  /** What pycocoevalcap calls the length: the number of bigrams (see below). */
  readonly length: number;
}

/**
 * CIDEr-D as computed by pycocoevalcap's `Cider().compute_score` (which, despite its name, is
 * CIDEr-D: clipped TF-IDF similarity, Gaussian length penalty, scaled by 10).
 *
 * - Document frequency counts, for each n-gram, the images whose references contain it, over
 *   the evaluated set itself; idf = log(N) - log(max(1, df)). Scores thus depend on the set:
 *   a single-image set always scores 0.
 * - For each order n the hypothesis and each reference become TF-IDF vectors; the similarity
 *   is sum(min(h, r) · r) / (|h|·|r|) (the clipping that makes it CIDEr-D), times
 *   exp(-δ²/2σ²) where δ is the length difference.
 * - pycocoevalcap measures that length as the number of *bigrams* (its `if n == 1` counts the
 *   order-2 entries); reproduced as is. It equals the word-count difference whenever both
 *   captions are non-empty, the only case where the similarity is not zero anyway.
 * - An image's score is the mean over orders of the mean over references, times 10; the
 *   corpus score is the mean over images.
 */
export function ciderD(samples: readonly TokenizedSample[], options: CiderDOptions = {}): CorpusScore {
  const maxOrder = options.maxOrder ?? 4;
  const sigma = options.sigma ?? 6;

  const hypCounts = samples.map((s) => countNgrams(s.hyp, maxOrder));
  const refCounts = samples.map((s) => s.refs.map((r) => countNgrams(r, maxOrder)));

  const documentFrequency = new Map<string, number>();
  for (const refs of refCounts) {
    const seen = new Set<string>();
    for (const ref of refs) for (const counts of ref) for (const gram of counts.keys()) seen.add(gram);
    for (const gram of seen) documentFrequency.set(gram, (documentFrequency.get(gram) ?? 0) + 1);
  }
  const logRefLen = Math.log(samples.length);

  const toVector = (byOrder: readonly Map<string, number>[]): TfIdfVector => {
    const weights: Map<string, number>[] = [];
    const norms: number[] = [];
    let length = 0;
    byOrder.forEach((counts, index) => {
      const vec = new Map<string, number>();
      let squared = 0;
      for (const [gram, tf] of counts) {
        const w = tf * (logRefLen - Math.log(Math.max(1, documentFrequency.get(gram) ?? 0)));
        vec.set(gram, w);
        squared += w * w;
        if (index === 1) length += tf;
      }
      weights.push(vec);
      norms.push(Math.sqrt(squared));
    });
    return { weights, norms, length };
  };

  const similarity = (hyp: TfIdfVector, ref: TfIdfVector): number[] => {
    const delta = hyp.length - ref.length;
    const penalty = Math.exp(-(delta * delta) / (2 * sigma * sigma));
    return hyp.weights.map((hypVec, n) => {
      const refVec = ref.weights[n] ?? new Map<string, number>();
      let val = 0;
      for (const [gram, h] of hypVec) {
        const r = refVec.get(gram) ?? 0;
        val += Math.min(h, r) * r;
      }
      const hn = hyp.norms[n] ?? 0;
      const rn = ref.norms[n] ?? 0;
      if (hn !== 0 && rn !== 0) val /= hn * rn;
      return val * penalty;
    });
  };

  const perImage = samples.map((sample, i) => {
    const hyp = toVector(hypCounts[i] ?? []);
    const summed = new Array<number>(maxOrder).fill(0);
    for (const ref of refCounts[i] ?? []) {
      similarity(hyp, toVector(ref)).forEach((v, n) => (summed[n] = (summed[n] ?? 0) + v));
    }
    const meanOverOrders = summed.reduce((a, b) => a + b, 0) / maxOrder;
    return (meanOverOrders / sample.refs.length) * 10;
  });
  const score = perImage.length === 0 ? Number.NaN : perImage.reduce((a, b) => a + b, 0) / perImage.length;
  return { score, perImage };
}
