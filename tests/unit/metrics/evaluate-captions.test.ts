import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PipelineError } from '../../../schemas/errors.ts';
import { evaluateCaptions } from '../../../processors/metrics/index.ts';

const gts = { a: ['two red circles', 'a pair of red circles'], b: ['a blue square', 'one blue square'] };
const res = { a: 'two red circles', b: 'a green square' };

void test('a Map and a Record of the same captions give the same scores', () => {
  const fromMap = evaluateCaptions(new Map(Object.entries(gts)), new Map(Object.entries(res)));
  assert.deepEqual(fromMap, evaluateCaptions(gts, res));
});

void test('captions are tokenized first: case and punctuation do not change scores', () => {
  assert.deepEqual(
    evaluateCaptions(gts, { a: 'Two red circles.', b: 'A GREEN square!' }),
    evaluateCaptions(gts, res),
  );
});

void test('returns every metric as a finite number', () => {
  const scores = evaluateCaptions(gts, res);
  assert.deepEqual(Object.keys(scores).sort(), ['bleu1', 'bleu2', 'bleu3', 'bleu4', 'ciderD', 'rougeL']);
  for (const v of Object.values(scores)) assert.ok(Number.isFinite(v));
});

void test('rejects mismatched ids, empty reference lists and empty sets with METRICS_INPUT_INVALID', () => {
  const isInvalid = (err: unknown): boolean =>
    err instanceof PipelineError && err.code === 'METRICS_INPUT_INVALID';
  assert.throws(() => evaluateCaptions(gts, { a: 'x' }), isInvalid);
  assert.throws(() => evaluateCaptions(gts, { ...res, c: 'x' }), isInvalid);
  assert.throws(() => evaluateCaptions({ a: [] }, { a: 'x' }), isInvalid);
  assert.throws(() => evaluateCaptions({}, {}), isInvalid);
});
