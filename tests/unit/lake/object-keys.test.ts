import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertSafeKey, assertSafePrefix, contentKey, layerOf } from '../../../runtime/lake/object-keys.ts';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';

const SHA = 'ab'.repeat(32);

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof PipelineError ? err.code : 'NOT_A_PIPELINE_ERROR';
  }
}

describe('object keys', () => {
  it('builds content keys with a two-character fan-out', () => {
    assert.equal(contentKey('bronze', SHA, 'jpg'), `bronze/ab/${SHA}.jpg`);
    assert.equal(contentKey('gold', SHA), `gold/ab/${SHA}`);
    assert.equal(contentKey('silver', SHA, '.png'), `silver/ab/${SHA}.png`);
  });

  it('refuses content keys with a bad digest, layer or extension', () => {
    assert.equal(
      codeOf(() => contentKey('bronze', 'AB'.repeat(32))),
      ErrorCodes.OBJECT_KEY_INVALID,
    );
    assert.equal(
      codeOf(() => contentKey('bronze', 'ab')),
      ErrorCodes.OBJECT_KEY_INVALID,
    );
    assert.equal(
      codeOf(() => contentKey('tmp' as 'gold', SHA)),
      ErrorCodes.OBJECT_KEY_INVALID,
    );
    assert.equal(
      codeOf(() => contentKey('gold', SHA, 'j/pg')),
      ErrorCodes.OBJECT_KEY_INVALID,
    );
  });

  it('accepts ordinary lake keys', () => {
    for (const key of [
      `bronze/ab/${SHA}.jpg`,
      'manifests/ds-0123456789ab.json',
      'models/captioner-1/model.onnx',
      'gold/tables/dataset_items/dataset_id=ds-1/items.parquet',
    ]) {
      assert.equal(
        codeOf(() => assertSafeKey(key)),
        null,
        key,
      );
    }
    assert.equal(layerOf('models/x/y'), 'models');
  });

  it('refuses traversal, absolute paths, backslashes, NUL, empty segments and over-long keys', () => {
    const bad = {
      empty: '',
      traversal: 'bronze/../../etc/passwd',
      dot: 'bronze/./x',
      leadingDotDot: '../bronze/x',
      absolute: '/bronze/x',
      backslash: 'bronze\\x',
      nul: 'bronze/x\u0000.jpg',
      control: 'bronze/x\u0007',
      emptySegment: 'bronze//x',
      trailingSlash: 'bronze/x/',
      noName: 'bronze',
      unknownLayer: 'tmp/x',
      hidden: 'bronze/.x.tmp',
      space: 'bronze/a b',
      unicode: 'bronze/caf\u00e9',
      tooLong: `bronze/${'a/'.repeat(600)}x`,
      longSegment: `bronze/${'a'.repeat(201)}`,
    };
    for (const [name, key] of Object.entries(bad))
      assert.equal(
        codeOf(() => assertSafeKey(key)),
        ErrorCodes.OBJECT_KEY_INVALID,
        name,
      );
  });

  it('accepts listing prefixes that could start a key, and nothing else', () => {
    for (const p of ['', 'b', 'bronze', 'bronze/', 'bronze/ab', 'gold/tables/'])
      assert.equal(
        codeOf(() => assertSafePrefix(p)),
        null,
        p,
      );
    for (const p of ['x', '../', 'bronze/../', 'bronze//', '/bronze/'])
      assert.equal(
        codeOf(() => assertSafePrefix(p)),
        ErrorCodes.OBJECT_KEY_INVALID,
        p,
      );
  });
});
