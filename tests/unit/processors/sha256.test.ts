import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../schemas/errors.ts';
import { sha256Hex, stableHash, stableStringify } from '../../../processors/hash/sha256.ts';

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 test vector for "abc"', () => {
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('hashes a string as its UTF-8 bytes', () => {
    const text = 'Một con chó';
    assert.equal(sha256Hex(text), sha256Hex(new TextEncoder().encode(text)));
  });
});

describe('stableStringify / stableHash', () => {
  it('gives the same text whatever the key order, at every depth', () => {
    const a = { b: 1, a: { d: [1, { z: 1, y: 2 }], c: 'x' } };
    const b = { a: { c: 'x', d: [1, { y: 2, z: 1 }] }, b: 1 };
    assert.equal(stableStringify(a), '{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}');
    assert.equal(stableHash(a), stableHash(b));
  });

  it('omits undefined properties like JSON.stringify and honours toJSON', () => {
    assert.equal(
      stableStringify({ a: undefined, b: null, d: new Date(0) }),
      '{"b":null,"d":"1970-01-01T00:00:00.000Z"}',
    );
  });

  it('distinguishes values that differ', () => {
    assert.notEqual(stableHash({ a: 1 }), stableHash({ a: '1' }));
    assert.notEqual(stableHash([1, 2]), stableHash([2, 1]));
  });

  it('refuses values JSON cannot represent rather than hashing them ambiguously', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    for (const bad of [Number.NaN, Infinity, 1n, () => 1, cyclic, new Uint8Array(2)]) {
      assert.throws(() => stableStringify({ bad }), PipelineError);
    }
  });
});
