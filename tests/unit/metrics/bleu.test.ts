import assert from 'node:assert/strict';
import { test } from 'node:test';
import { corpusBleu, evaluateCaptions } from '../../../processors/metrics/index.ts';

const close = (actual: number | undefined, expected: number, tol = 1e-6): void => {
  assert.ok(
    actual !== undefined && Math.abs(actual - expected) <= tol,
    `expected ${expected}, got ${actual}`,
  );
};

void test('an identical hypothesis scores BLEU-1..4 = 1', () => {
  const s = evaluateCaptions(
    { a: ['two red circles and a blue square'] },
    { a: 'two red circles and a blue square' },
  );
  for (const b of [s.bleu1, s.bleu2, s.bleu3, s.bleu4]) close(b, 1, 1e-9);
});

void test('hand-computed BLEU: brevity penalty and pycocoevalcap smoothing of an empty 4-gram count', () => {
  // 3 of 3 unigrams, 2/2 bigrams, 1/1 trigram, 0/0 4-grams (smoothed to 1e-15/1e-9 = 1e-6);
  // length 3 against reference length 6: brevity penalty exp(1 - 6/3) = e^-1.
  const { scores } = corpusBleu([
    { hyp: ['the', 'cat', 'sat'], refs: [['the', 'cat', 'sat', 'on', 'the', 'mat']] },
  ]);
  close(scores[0], Math.exp(-1));
  close(scores[1], Math.exp(-1));
  close(scores[2], Math.exp(-1));
  close(scores[3], 1e-6 ** 0.25 * Math.exp(-1));
});

void test('matches are clipped to the largest count in any one reference', () => {
  const { scores } = corpusBleu([
    {
      hyp: ['the', 'the', 'the', 'the'],
      refs: [
        ['the', 'cat'],
        ['a', 'the'],
      ],
    },
  ]);
  close(scores[0], 1 / 4);
});

void test("the 'closest' reference length breaks ties towards the shorter reference", () => {
  // Lengths 2 and 4 are both 1 away from 3; choosing 2 means no brevity penalty.
  const { scores } = corpusBleu([
    {
      hyp: ['a', 'b', 'c'],
      refs: [
        ['a', 'b'],
        ['a', 'b', 'c', 'd'],
      ],
    },
  ]);
  close(scores[0], 1);
});

void test('counts are summed over the corpus before taking precisions (not averaged per sentence)', () => {
  const { scores, perImage } = corpusBleu([
    { hyp: ['x', 'y'], refs: [['x', 'y']] },
    { hyp: ['p', 'q', 'r', 's'], refs: [['p', 'z', 'z', 'z']] },
  ]);
  close(scores[0], 3 / 6); // (2 + 1) matched of (2 + 4) guessed
  close(perImage[0]?.[0], 1);
  close(perImage[0]?.[1], 1 / 4);
});
