import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, contentHash } from '../../../runtime/catalog/canonical-json.ts';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';

describe('canonical JSON', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [1, { y: 2, x: undefined, w: null }], c: 'é' } }),
      '{"a":{"c":"é","d":[1,{"w":null,"y":2}]},"b":1}',
    );
  });

  it('gives equal hashes to equal content written in another order', () => {
    assert.equal(contentHash({ a: 1, b: [1, 2] }), contentHash({ b: [1, 2], a: 1 }));
    assert.notEqual(contentHash({ a: 1, b: [1, 2] }), contentHash({ a: 1, b: [2, 1] }));
    assert.equal(contentHash({ n: -0 }), contentHash({ n: 0 }));
  });

  it('refuses values JSON cannot hold', () => {
    for (const value of [{ n: Number.NaN }, { n: Infinity }, { f: () => 1 }, { m: new Map() }, { b: 1n }]) {
      assert.throws(
        () => canonicalJson(value),
        (err: unknown) => err instanceof PipelineError && err.code === ErrorCodes.CATALOG_RECORD_INVALID,
      );
    }
  });
});
