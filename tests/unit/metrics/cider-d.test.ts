import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ciderD, evaluateCaptions } from '../../../processors/metrics/index.ts';

void test('hypotheses equal to their only reference, with no shared n-grams across images, score 10', () => {
  // Every n-gram has df = 1, so hypothesis and reference tf-idf vectors are equal: cosine 1 at
  // every order (each caption has 4 words, so 4-grams exist), no length penalty, times 10.
  const s = evaluateCaptions(
    { a: ['red circle on left'], b: ['blue square at top'] },
    { a: 'red circle on left', b: 'blue square at top' },
  );
  assert.ok(Math.abs(s.ciderD - 10) < 1e-9, String(s.ciderD));
});

void test('a one-image set scores 0 because every n-gram has idf log(1) - log(1)', () => {
  const { score } = ciderD([{ hyp: ['a', 'red', 'circle'], refs: [['a', 'red', 'circle']] }]);
  assert.equal(score, 0);
});

void test('the Gaussian length penalty lowers the score of a padded hypothesis', () => {
  const gts = { a: ['red circle on left'], b: ['blue square at top'] };
  const exact = evaluateCaptions(gts, { a: 'red circle on left', b: 'blue square at top' }).ciderD;
  const padded = evaluateCaptions(gts, {
    a: 'red circle on left left left left left',
    b: 'blue square at top',
  }).ciderD;
  assert.ok(padded < exact, `${padded} should be < ${exact}`);
});

void test('clipping: repeating a matching word lowers the score instead of raising it', () => {
  // Unclipped cosine similarity would ignore the repetition (same direction); CIDEr-D's
  // min(h, r) · r caps the repeated word at the reference's weight: a third of the unigram score.
  const others = [
    { hyp: ['blue'], refs: [['blue', 'square']] },
    { hyp: ['green'], refs: [['green', 'star']] },
  ];
  const once = ciderD([{ hyp: ['red'], refs: [['red', 'circle']] }, ...others]).perImage[0];
  const repeated = ciderD([{ hyp: ['red', 'red', 'red'], refs: [['red', 'circle']] }, ...others]).perImage[0];
  assert.ok(once !== undefined && repeated !== undefined && once > 0);
  assert.ok(Math.abs(repeated - once / 3) < 1e-9, `${repeated} should be a third of ${once}`);
});
