/**
 * Autoregressive decoding, independent of the runtime: greedy and beam search, both over a whole
 * batch of images at once (beam: every live beam of every image in one call), over a `next`
 * function that returns the last-position logits of each prefix. A step's input is the token
 * prefixes and, from the second step on, each prefix's parent row in the call before (the row
 * whose prefix it extends by one token): a runtime with a KV cache (captioner.ts) reorders its
 * cache by them, so the decoding loops keep no cache themselves. Greedy decoding drops rows that
 * have ended from the batch (see {@link greedyDecode}); beam search drops images whose search is done.
 *
 * Scores are log-probabilities from a log-softmax over the full vocabulary; a hypothesis's
 * score is their mean over the generated tokens, the end token included (HF's length penalty
 * 1.0), so long and short captions compare fairly.
 */

/**
 * Last-position logits for each prefix: `prefixes[i]` belongs to image `images[i]`. All
 * prefixes of one call have the same length. `parents[i]`, when given, is the row of the call
 * before whose prefix `prefixes[i]` extends by one token (absent on a first call). Callers only
 * append to a prefix array they passed before, never change its tokens. Returned rows may be
 * views valid until the next call.
 */
export type NextLogits = (
  prefixes: readonly (readonly number[])[],
  images: readonly number[],
  parents?: readonly number[],
) => Promise<readonly Float32Array[]>;

/** Token ids and length limit of one decoding run. */
export interface DecodeParams {
  /** First decoder input. */
  readonly start: number;
  /** Ids that end a sequence. */
  readonly stop: ReadonlySet<number>;
  /** Appended to finished rows while others go on. */
  readonly pad: number;
  /** Total length, the start token included. */
  readonly maxLength: number;
  /** Hugging Face `generate`'s repetition penalty and no-repeat n-gram rules; none by default. */
  readonly rules?: ScoreRules;
  /**
   * A batched log-softmax of the rows a `next` call returned (the runtime's, vectorized); the
   * loops compute it in JavaScript, one `Math.exp` per word, without it. Tokens are still chosen
   * on the logits, so it changes no caption, only the float32 rounding of the scores.
   */
  readonly logSoftmax?: LogSoftmaxRows;
}

/** Log-softmax of each row (same order, same lengths); returned rows may be views valid until the next call. */
export type LogSoftmaxRows = (rows: readonly Float32Array[]) => Promise<readonly Float32Array[]>;

/**
 * The two logits processors of Hugging Face `generate` that curb repeated words
 * (`RepetitionPenaltyLogitsProcessor`, `NoRepeatNGramLogitsProcessor`), with the same meaning:
 * the prefix they look at includes the decoder start token, as HF's `input_ids` does.
 */
export interface ScoreRules {
  /** > 1 discourages tokens already in the prefix: a score s becomes s / p when s > 0, s * p otherwise. 1: off. */
  readonly repetitionPenalty?: number;
  /** > 0 forbids any n-gram of this size from occurring twice. 0: off. */
  readonly noRepeatNgramSize?: number;
}

/** True when `rules` change any score. */
export function hasRules(rules: ScoreRules | undefined): rules is ScoreRules {
  return (rules?.repetitionPenalty ?? 1) !== 1 || (rules?.noRepeatNgramSize ?? 0) > 0;
}

/** HF's repetition penalty on one row of scores, in place. */
export function applyRepetitionPenalty(
  scores: Float32Array | Float64Array,
  prefix: readonly number[],
  penalty: number,
): void {
  if (penalty === 1) return;
  for (const id of new Set(prefix)) {
    const s = scores[id];
    if (s === undefined) continue;
    scores[id] = s < 0 ? s * penalty : s / penalty;
  }
}

/** Tokens that would repeat an n-gram of size `n` already in `prefix` (HF `_get_generated_ngrams` + `_get_banned_tokens`). */
export function bannedNgramTokens(prefix: readonly number[], n: number): number[] {
  if (n < 1 || prefix.length + 1 < n) return [];
  const tail = prefix.slice(prefix.length - (n - 1));
  const banned: number[] = [];
  for (let i = 0; i + n <= prefix.length; i++) {
    let match = true;
    for (let j = 0; j < n - 1 && match; j++) match = prefix[i + j] === tail[j];
    if (match) banned.push(prefix[i + n - 1] as number);
  }
  return banned;
}

/** Both rules on one row, in place (banned tokens get -Infinity, as HF does). */
export function applyRules(
  scores: Float32Array | Float64Array,
  prefix: readonly number[],
  rules: ScoreRules,
): void {
  applyRepetitionPenalty(scores, prefix, rules.repetitionPenalty ?? 1);
  const n = rules.noRepeatNgramSize ?? 0;
  if (n > 0)
    for (const id of bannedNgramTokens(prefix, n))
      if (id < scores.length) scores[id] = Number.NEGATIVE_INFINITY;
}

/** One decoded sequence. */
export interface Hypothesis {
  /** Generated ids: no start token, no end token. */
  readonly tokens: number[];
  /** Sum of log-probs of every generated token, the end token included. */
  readonly sumLogProb: number;
  /** Generated tokens counted in the sum. */
  readonly steps: number;
  /** True when an end token was generated (false: stopped at maxLength). */
  readonly finished: boolean;
}

/** Mean log-prob: the length-normalized score. */
export function meanLogProb(h: Pick<Hypothesis, 'sumLogProb' | 'steps'>): number {
  return h.steps === 0 ? 0 : h.sumLogProb / h.steps;
}

/** log(sum(exp(x))), stable. */
export function logSumExp(x: ArrayLike<number>): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < x.length; i++) if ((x[i] as number) > max) max = x[i] as number;
  return logSumExpAt(x, max);
}

/** {@link logSumExp} given the maximum of `x` (the same arithmetic, one pass fewer). */
function logSumExpAt(x: ArrayLike<number>, max: number): number {
  if (!Number.isFinite(max)) return max;
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp((x[i] as number) - max);
  return max + Math.log(sum);
}

/** Index of the largest value (the lowest index wins ties): `topK(x, 1)[0]`, in one pass. */
export function argMax(x: Float32Array): number {
  let best = 0;
  let value = x[0] as number;
  for (let i = 1; i < x.length; i++) {
    const v = x[i] as number;
    if (v > value) {
      value = v;
      best = i;
    }
  }
  return best;
}

/** Log-softmax of `x` (float64 for accumulating scores). */
export function logSoftmax(x: ArrayLike<number>): Float64Array {
  const lse = logSumExp(x);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (x[i] as number) - lse;
  return out;
}

/** Indices of the `k` largest values, largest first (lowest index wins ties, like argmax). */
export function topK(x: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    if (best.length === k && v <= (x[best[k - 1] as number] as number)) continue;
    let at = best.length;
    while (at > 0 && v > (x[best[at - 1] as number] as number)) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

/**
 * Greedy decoding of `count` images together. A row that ends is padded while it stays in the
 * batch, and leaves it once the ended rows are a quarter of the batch or more: each later step
 * then runs on fewer rows, and the quarter keeps the cache reorder that a smaller batch costs
 * (the runtime gathers the rows kept) to a few times per batch. The loop stops when every row has
 * ended. A row's tokens do not depend on the others, so dropping rows changes no caption.
 */
export async function greedyDecode(
  next: NextLogits,
  count: number,
  params: DecodeParams,
): Promise<Hypothesis[]> {
  const prefixes = Array.from({ length: count }, () => [params.start]);
  const rows = Array.from({ length: count }, () => ({
    tokens: [] as number[],
    sumLogProb: 0,
    steps: 0,
    finished: false,
  }));
  const rules = hasRules(params.rules) ? params.rules : undefined;
  /** The rows in the batch (indices into `rows`, which are also their images), in batch order. */
  let batch = rows.map((_, i) => i);
  let ended = 0;
  for (let length = 1; length < params.maxLength && ended < batch.length; length++) {
    let parents: number[] | undefined;
    if (length > 1) {
      if (ended > 0 && ended * 4 >= batch.length) {
        const kept: number[] = [];
        const from: number[] = [];
        batch.forEach((r, at) => {
          if ((rows[r] as Hypothesis).finished) return;
          kept.push(r);
          from.push(at);
        });
        batch = kept;
        parents = from;
        ended = 0;
      } else parents = batch.map((_, at) => at);
    }
    const logits = await next(
      batch.map((r) => prefixes[r] as number[]),
      batch,
      parents,
    );
    // HF scores greedy tokens on the processed logits: with rules, the log-sum-exp is of those.
    const logProbs = rules === undefined && params.logSoftmax !== undefined ? await params.logSoftmax(logits) : undefined;
    batch.forEach((r, at) => {
      const prefix = prefixes[r] as number[];
      const row = rows[r] as (typeof rows)[number];
      if (row.finished) {
        prefix.push(params.pad);
        return;
      }
      let x = logits[at] as Float32Array;
      if (rules !== undefined) {
        // As HF's greedy search: the processors act on the logits, before the argmax.
        x = Float32Array.from(x);
        applyRules(x, prefix, rules);
      }
      const token = argMax(x);
      const max = x[token] as number;
      // The argmax's value is the maximum logSumExp would find (unless NaNs are about).
      row.sumLogProb +=
        logProbs === undefined
          ? max - (Number.isNaN(max) ? logSumExp(x) : logSumExpAt(x, max))
          : ((logProbs[at] as Float32Array)[token] as number);
      row.steps++;
      prefix.push(token);
      if (params.stop.has(token)) {
        row.finished = true;
        ended++;
      } else row.tokens.push(token);
    });
  }
  return rows;
}

interface Beam {
  readonly prefix: number[];
  readonly sumLogProb: number;
  /** Its parent's row in the decoder call before (none for the start beam). */
  readonly parent?: number;
}

/** One image's beam search state. */
interface BeamSearch {
  readonly image: number;
  beams: Beam[];
  readonly closed: Hypothesis[];
  /** Stopped early: `beamSize` closed hypotheses that no live beam can beat. */
  done: boolean;
}

/**
 * Beam search for image `image`: keeps `beamSize` live prefixes; an end token among the top
 * `beamSize` candidates closes a hypothesis. Stops when every beam has ended, at maxLength, or
 * (HF's `early_stopping=False` rule) once `beamSize` hypotheses are closed and the best live
 * beam, scored as if it ended now, cannot beat the worst of them. Returns the best hypothesis by
 * mean log-prob; beams still open at maxLength compete as unfinished hypotheses.
 */
export async function beamDecode(
  next: NextLogits,
  image: number,
  params: DecodeParams & { readonly beamSize: number },
): Promise<Hypothesis> {
  const [best] = await beamDecodeBatch(next, [image], params);
  return best as Hypothesis;
}

/**
 * {@link beamDecode} for several images together: each step sends the live beams of every image
 * still searching in one `next` call (one decoder run), and each image's search goes on exactly as
 * it would alone. Returns one hypothesis per entry of `images`, in order.
 */
export async function beamDecodeBatch(
  next: NextLogits,
  images: readonly number[],
  params: DecodeParams & { readonly beamSize: number },
): Promise<Hypothesis[]> {
  const k = params.beamSize;
  const searches: BeamSearch[] = images.map((image) => ({
    image,
    beams: [{ prefix: [params.start], sumLogProb: 0 }],
    closed: [],
    done: false,
  }));
  const hypothesis = (beam: Beam, finished: boolean): Hypothesis => ({
    tokens: beam.prefix.slice(1, finished ? -1 : undefined),
    sumLogProb: beam.sumLogProb,
    steps: beam.prefix.length - 1,
    finished,
  });
  for (let length = 1; length < params.maxLength; length++) {
    const active = searches.filter((s) => !s.done && s.beams.length > 0);
    if (active.length === 0) break;
    const logits = await next(
      active.flatMap((s) => s.beams.map((b) => b.prefix)),
      active.flatMap((s) => s.beams.map(() => s.image)),
      length === 1 ? undefined : active.flatMap((s) => s.beams.map((b) => b.parent as number)),
    );
    const logProbs = params.logSoftmax === undefined ? undefined : await params.logSoftmax(logits);
    let row = 0;
    for (const search of active) {
      const candidates: { beam: Beam; row: number; token: number; sum: number }[] = [];
      for (const beam of search.beams) {
        const beamRow = row++;
        const x = logits[beamRow] as Float32Array;
        // As HF's beam search: the processors act on the log-softmax scores.
        const given = logProbs?.[beamRow];
        const ruled = hasRules(params.rules);
        const scores = given === undefined ? logSoftmax(x) : ruled ? Float64Array.from(given) : given;
        if (ruled) applyRules(scores, beam.prefix, params.rules);
        // 2k per beam is enough: at most k of the kept candidates can be end tokens.
        for (const token of topK(scores, Math.min(2 * k, x.length))) {
          const score = scores[token] as number;
          if (score === Number.NEGATIVE_INFINITY) continue;
          candidates.push({ beam, row: beamRow, token, sum: beam.sumLogProb + score });
        }
      }
      candidates.sort((a, b) => b.sum - a.sum);
      const live: Beam[] = [];
      for (const [rank, c] of candidates.entries()) {
        if (live.length === k) break;
        const beam = { prefix: [...c.beam.prefix, c.token], sumLogProb: c.sum, parent: c.row };
        if (params.stop.has(c.token)) {
          if (rank < k) search.closed.push(hypothesis(beam, true));
        } else live.push(beam);
      }
      search.beams = live;
      const { closed } = search;
      if (closed.length >= k && live.length > 0) {
        closed.sort((a, b) => meanLogProb(b) - meanLogProb(a));
        closed.length = k;
        const worst = meanLogProb(closed[k - 1] as Hypothesis);
        const bestLive = (live[0] as Beam).sumLogProb / length;
        if (worst >= bestLive) search.done = true;
      }
    }
  }
  return searches.map((search) => {
    // Open beams compete only when the search ran out of length, not when it stopped early.
    const all = search.done
      ? [...search.closed]
      : [...search.closed, ...search.beams.map((b) => hypothesis(b, false))];
    all.sort((a, b) => meanLogProb(b) - meanLogProb(a));
    return all[0] as Hypothesis;
  });
}
