/**
 * One image of an evaluation set, already tokenized: the candidate caption (hypothesis) and
 * its reference captions. Every scorer in `processors/metrics/` takes a list of these.
 */
export interface TokenizedSample {
  /** The candidate caption's tokens (may be empty). */
  readonly hyp: readonly string[];
  /** The reference captions' tokens; at least one reference. */
  readonly refs: readonly (readonly string[])[];
}

/** A corpus-level score together with the per-image scores it was built from, in input order. */
export interface CorpusScore {
  readonly score: number;
  readonly perImage: readonly number[];
}
