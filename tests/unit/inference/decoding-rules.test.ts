/**
 * Hugging Face `generate`'s repetition rules (repetition_penalty, no_repeat_ngram_size) in the
 * decoding loops, on a hand-written "model" that loops on "a cat a cat …" unless told not to.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyRepetitionPenalty,
  bannedNgramTokens,
  beamDecode,
  greedyDecode,
  type NextLogits,
} from '../../../processors/inference/decoding.ts';

// 0 pad, 1 bos, 2 eos, 3 a, 4 cat, 5 sits
const V = 6;
/** After "a": cat (else eos); after "cat": a (3.0) rather than sits (2.5) or eos (1.0); after "sits": eos. */
const looping: NextLogits = (prefixes) =>
  Promise.resolve(
    prefixes.map((prefix) => {
      const row = new Float32Array(V);
      const last = prefix.at(-1);
      if (last === 1) row[3] = 5;
      if (last === 3) {
        row[4] = 5;
        row[2] = 1;
      }
      if (last === 4) {
        row[3] = 3;
        row[5] = 2.5;
        row[2] = 1;
      }
      if (last === 5) row[2] = 5;
      return row;
    }),
  );

const params = { start: 1, stop: new Set([2]), pad: 0, maxLength: 9 };

describe('repetition rules', () => {
  it('bannedNgramTokens bans the token that would complete an n-gram seen before (HF semantics)', () => {
    assert.deepEqual(bannedNgramTokens([1, 3, 4, 3], 2), [4]);
    assert.deepEqual(bannedNgramTokens([1, 3, 4, 3, 4], 3), [3]);
    assert.deepEqual(bannedNgramTokens([1, 3, 4], 1), [1, 3, 4]);
    assert.deepEqual(bannedNgramTokens([1], 3), []);
  });

  it('applyRepetitionPenalty divides positive and multiplies negative scores of seen tokens', () => {
    const row = new Float32Array([2, -2, 4]);
    applyRepetitionPenalty(row, [0, 1, 0], 2);
    assert.deepEqual([...row], [1, -4, 4]);
  });

  it('greedy without rules loops until maxLength; no_repeat_ngram_size=2 makes it end', async () => {
    const [plain] = await greedyDecode(looping, 1, params);
    assert.deepEqual(plain?.tokens, [3, 4, 3, 4, 3, 4, 3, 4]);
    assert.equal(plain?.finished, false);
    const [ruled] = await greedyDecode(looping, 1, { ...params, rules: { noRepeatNgramSize: 2 } });
    // "a cat a" then "cat" would repeat the bigram "a cat": the end token wins.
    assert.deepEqual(ruled?.tokens, [3, 4, 3]);
    assert.equal(ruled?.finished, true);
  });

  it('greedy with repetition_penalty 2 prefers the unseen word', async () => {
    const [ruled] = await greedyDecode(looping, 1, { ...params, rules: { repetitionPenalty: 2 } });
    // "a" (3.0 -> 1.5) loses to "sits" (2.5) once "a" has been said.
    assert.deepEqual(ruled?.tokens, [3, 4, 5]);
  });

  it('beam search honours no_repeat_ngram_size too', async () => {
    const plain = await beamDecode(looping, 0, { ...params, beamSize: 2 });
    assert.ok(plain.tokens.length >= 4, `loops without rules: ${plain.tokens.join(' ')}`);
    const ruled = await beamDecode(looping, 0, { ...params, beamSize: 2, rules: { noRepeatNgramSize: 2 } });
    for (let i = 0; i + 1 < ruled.tokens.length; i++) {
      const pair = `${ruled.tokens[i]},${ruled.tokens[i + 1]}`;
      const rest = ruled.tokens.slice(i + 1).map((t, j, a) => `${t},${a[j + 1]}`);
      assert.ok(!rest.includes(pair), `bigram ${pair} repeats in ${ruled.tokens.join(' ')}`);
    }
    assert.equal(ruled.finished, true);
  });
});
