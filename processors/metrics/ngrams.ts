/**
 * N-gram counts of one tokenized sentence, by order: element `k - 1` maps each k-gram (its
 * tokens joined by a single space, which never occurs inside a token) to its count.
 *
 * Shared by BLEU and CIDEr-D, which both count 1..4-grams exactly like pycocoevalcap's
 * `precook`.
 */
export function countNgrams(tokens: readonly string[], maxOrder: number): Map<string, number>[] {
  const byOrder: Map<string, number>[] = [];
  for (let k = 1; k <= maxOrder; k++) {
    const counts = new Map<string, number>();
    for (let i = 0; i + k <= tokens.length; i++) {
      const gram = tokens.slice(i, i + k).join(' ');
      counts.set(gram, (counts.get(gram) ?? 0) + 1);
    }
    byOrder.push(counts);
  }
  return byOrder;
}
