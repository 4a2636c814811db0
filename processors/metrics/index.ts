/**
 * Caption evaluation metrics (BLEU-1..4, ROUGE-L, CIDEr-D), numerically equivalent to
 * pycocoevalcap on the same tokens. Pure functions, no I/O.
 */
export { corpusBleu, type BleuResult } from './bleu.ts';
export { ciderD, type CiderDOptions } from './cider-d.ts';
export {
  evaluateCaptions,
  tokenizeEvaluationSet,
  type CandidateCaptions,
  type CaptionScores,
  type ReferenceCaptions,
  type TokenizedEvaluationSet,
} from './evaluate-captions.ts';
export { countNgrams } from './ngrams.ts';
export { rougeL, sentenceRougeL } from './rouge-l.ts';
export { tokenizeCaption } from './tokenize.ts';
export type { CorpusScore, TokenizedSample } from './tokenized-sample.ts';
