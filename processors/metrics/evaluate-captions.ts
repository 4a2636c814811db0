import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { corpusBleu } from './bleu.ts';
import { ciderD } from './cider-d.ts';
import { rougeL } from './rouge-l.ts';
import { tokenizeCaption } from './tokenize.ts';
import type { TokenizedSample } from './tokenized-sample.ts';

/** The standard COCO caption scores of an evaluation set. */
export interface CaptionScores {
  readonly bleu1: number;
  readonly bleu2: number;
  readonly bleu3: number;
  readonly bleu4: number;
  readonly rougeL: number;
  readonly ciderD: number;
}

/** Reference captions by image id. */
export type ReferenceCaptions =
  ReadonlyMap<string, readonly string[]> | Readonly<Record<string, readonly string[]>>;
/** One candidate caption by image id. */
export type CandidateCaptions = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/** An evaluation set after validation and tokenization, in the iteration order of `gts`. */
export interface TokenizedEvaluationSet {
  readonly ids: readonly string[];
  readonly samples: readonly TokenizedSample[];
}

/**
 * Score candidate captions against references with BLEU-1..4, ROUGE-L and CIDEr-D, computed
 * exactly as pycocoevalcap computes them (see {@link corpusBleu}, {@link rougeL},
 * {@link ciderD}), after tokenizing every caption with {@link tokenizeCaption}.
 *
 * Like pycocoevalcap, both sides must cover the same image ids and every image needs at least
 * one reference. CIDEr-D's document frequencies come from the references of this very set,
 * so scores of different subsets are not comparable with each other.
 *
 * @throws PipelineError `METRICS_INPUT_INVALID` when ids differ, a reference list is empty or
 *   the set is empty.
 */
export function evaluateCaptions(gts: ReferenceCaptions, res: CandidateCaptions): CaptionScores {
  const { samples } = tokenizeEvaluationSet(gts, res);
  const bleu = corpusBleu(samples, 4).scores;
  return {
    bleu1: bleu[0] ?? 0,
    bleu2: bleu[1] ?? 0,
    bleu3: bleu[2] ?? 0,
    bleu4: bleu[3] ?? 0,
    rougeL: rougeL(samples).score,
    ciderD: ciderD(samples).score,
  };
}

/**
 * Validate an evaluation set and tokenize it: what {@link evaluateCaptions} scores. Exposed so
 * that callers (the parity test, per-image reports) can run the individual scorers on the
 * very same tokens.
 */
export function tokenizeEvaluationSet(
  gts: ReferenceCaptions,
  res: CandidateCaptions,
): TokenizedEvaluationSet {
  const refsById = toMap(gts);
  const hypById = toMap(res);
  if (refsById.size === 0) {
    throw new PipelineError(ErrorCodes.METRICS_INPUT_INVALID, 'cannot evaluate an empty set of captions');
  }
  const missing = [...refsById.keys()].filter((id) => !hypById.has(id));
  const extra = [...hypById.keys()].filter((id) => !refsById.has(id));
  if (missing.length > 0 || extra.length > 0) {
    throw new PipelineError(
      ErrorCodes.METRICS_INPUT_INVALID,
      `references and candidates must cover the same image ids (${missing.length} without a candidate, ${extra.length} without references)`,
      { context: { missing: missing.slice(0, 10), extra: extra.slice(0, 10) } },
    );
  }
  const ids: string[] = [];
  const samples: TokenizedSample[] = [];
  for (const [id, refs] of refsById) {
    if (refs.length === 0) {
      throw new PipelineError(ErrorCodes.METRICS_INPUT_INVALID, `image ${id} has no reference caption`, {
        context: { imageId: id },
      });
    }
    ids.push(id);
    samples.push({ hyp: tokenizeCaption(hypById.get(id) ?? ''), refs: refs.map(tokenizeCaption) });
  }
  return { ids, samples };
}

function toMap<V>(value: ReadonlyMap<string, V> | Readonly<Record<string, V>>): ReadonlyMap<string, V> {
  return value instanceof Map ? (value as ReadonlyMap<string, V>) : new Map(Object.entries(value));
}
