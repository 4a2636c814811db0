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

  it('keeps its hashes across releases (dataset version ids and catalog digests depend on them)', () => {
    const manifestLike = { formatVersion: 1, name: 'n', items: [{ imageId: 'x', captions: [{ id: 'c', text: 't', origin: 'human' }], split: 'train', size: 12 }] };
    assert.equal(contentHash(manifestLike), '65b34e9f1192d16325ae8598df99bec4b67eca70ab39b8afad1c03a4f7455875');
    const awkward = { Z: 1, a: 2, é: 3, '10': 4, '9': 5, _: [undefined, -0, 1.5e-7, 1e21], d: new Date(0) };
    assert.equal(contentHash(awkward), '768c2e2181c09fcd2a0503d4bc9a01ad5a5f6d6180dbcf1a3003a92e54b95bac');
  });

  it('names where a value is not JSON', () => {
    assert.throws(
      () => canonicalJson({ a: [1, { b: Number.NaN }] }),
      (err: unknown) => err instanceof PipelineError && err.context['path'] === '$.a[1].b',
    );
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.throws(() => canonicalJson(cyclic), /circular reference/);
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
