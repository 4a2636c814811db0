import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenizeCaption } from '../../../processors/metrics/index.ts';

void test('lower-cases, drops apostrophes and splits on punctuation and whitespace', () => {
  assert.deepEqual(tokenizeCaption("Two RED circles,  and a blue-ish square! It's   fine."), [
    'two',
    'red',
    'circles',
    'and',
    'a',
    'blue',
    'ish',
    'square',
    'its',
    'fine',
  ]);
});

void test('punctuation-only and empty captions have no tokens', () => {
  assert.deepEqual(tokenizeCaption(' ... !'), []);
  assert.deepEqual(tokenizeCaption(''), []);
});

void test('is idempotent on its own output', () => {
  const tokens = tokenizeCaption('A café, naïve — 3.5 stars?');
  assert.deepEqual(tokenizeCaption(tokens.join(' ')), tokens);
  assert.deepEqual(tokens, ['a', 'café', 'naïve', '3', '5', 'stars']);
});
