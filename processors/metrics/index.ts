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
export {
  buildEvaluationReport,
  unionTags,
  type ConceptScores,
  type ConceptTagger,
  type CurvePoint,
  type EvaluatedCaption,
  type EvaluationReport,
  type EvaluationReportOptions,
  type ReportCaption,
  type SubsetScores,
} from './evaluation-report.ts';
export { countNgrams } from './ngrams.ts';
export { pairedBootstrap, type PairedBootstrapOptions, type PairedComparison } from './paired-bootstrap.ts';
export { rougeL, sentenceRougeL } from './rouge-l.ts';
export { tokenizeCaption } from './tokenize.ts';
export type { CorpusScore, TokenizedSample } from './tokenized-sample.ts';
