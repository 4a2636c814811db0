import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateCaptions, rougeL, sentenceRougeL } from '../../../processors/metrics/index.ts';

void test('an identical hypothesis scores ROUGE-L = 1', () => {
  const s = evaluateCaptions({ a: ['a small blue star at the top'] }, { a: 'a small blue star at the top' });
  assert.ok(Math.abs(s.rougeL - 1) < 1e-12);
});

void test('hand-computed ROUGE-L: LCS precision and recall combined with beta = 1.2', () => {
  // LCS("a b c d", "a c e") = 2: precision 2/4, recall 2/3.
  const p = 0.5;
  const r = 2 / 3;
  const expected = ((1 + 1.44) * p * r) / (r + 1.44 * p);
  const actual = sentenceRougeL(['a', 'b', 'c', 'd'], [['a', 'c', 'e']]);
  assert.ok(Math.abs(actual - expected) < 1e-12, `${actual} vs ${expected}`);
});

void test('best precision and best recall are taken independently over references', () => {
  // Ref 1 gives precision 1/1 (recall 1/3); ref 2 gives recall 1/1 (precision 1/1): F = 1.
  assert.equal(sentenceRougeL(['x'], [['x', 'y', 'z'], ['x']]), 1);
});

void test('the corpus score is the mean of per-image scores, and no overlap scores 0', () => {
  const { score, perImage } = rougeL([
    { hyp: ['a', 'b'], refs: [['a', 'b']] },
    { hyp: ['c'], refs: [['d']] },
  ]);
  assert.deepEqual(perImage, [1, 0]);
  assert.equal(score, 0.5);
});
