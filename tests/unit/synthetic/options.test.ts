import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PipelineError } from '../../../schemas/errors.ts';
import { generateScenes, sampleScene } from '../../../processors/synthetic/index.ts';

function configError(key: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof PipelineError, String(err));
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.equal(err.context['key'], key);
    assert.ok(err.message.includes(key), err.message);
    return true;
  };
}

void test('unknown vocabulary, bad sizes and bad seeds are CONFIG_INVALID naming the key', () => {
  assert.throws(() => sampleScene(1, { holdOut: { shape: 'pentagon' } }), configError('holdOut.shape'));
  assert.throws(() => sampleScene(1, { onlyConcept: { colour: 'teal' } }), configError('onlyConcept.colour'));
  assert.throws(() => sampleScene(1, { size: 8 }), configError('size'));
  assert.throws(() => sampleScene(-1), configError('seed'));
  assert.throws(() => sampleScene(1.5), configError('seed'));
});

void test('a concept cannot be both held out and required', () => {
  assert.throws(
    () => sampleScene(1, { holdOut: { shape: 'star' }, onlyConcept: { shape: 'star' } }),
    configError('onlyConcept.shape'),
  );
});

void test('an empty onlyConcept is rejected', () => {
  assert.throws(() => sampleScene(1, { onlyConcept: {} }), configError('onlyConcept'));
});

void test('run options are validated before the first scene', async () => {
  const scenes = generateScenes({ seed: 1, count: -3 });
  await assert.rejects(scenes.next(), configError('count'));
});
