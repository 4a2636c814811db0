import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCompatibility, checkContractEvolution } from '../../../schemas/compat.ts';
import type { AvroSchemaJson } from '../../../schemas/avro-schemas.ts';
import { allTopics } from '../../../schemas/topics.ts';

function record(fields: unknown[], extra: Record<string, unknown> = {}): AvroSchemaJson {
  return { type: 'record', name: 'Thing', namespace: 'test.v1', ...extra, fields };
}

const V1 = record([
  { name: 'id', type: 'string' },
  { name: 'count', type: 'int' },
  { name: 'note', type: ['null', 'string'], default: null },
  { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['a', 'b'] } },
  {
    name: 'parts',
    type: {
      type: 'array',
      items: { type: 'record', name: 'Part', fields: [{ name: 'size', type: 'long' }] },
    },
  },
]);

function v2(change: (fields: Record<string, unknown>[]) => Record<string, unknown>[]): AvroSchemaJson {
  const fields = structuredClone((V1 as { fields: Record<string, unknown>[] }).fields);
  return record(change(fields));
}

test('an added field with a default is compatible', () => {
  const newer = v2((f) => [...f, { name: 'tags', type: { type: 'array', items: 'string' }, default: [] }]);
  assert.deepEqual(checkCompatibility(newer, V1, 'FULL'), []);
  assert.deepEqual(checkContractEvolution(newer, V1), []);
});

test('an added field without a default breaks BACKWARD, naming the field', () => {
  const issues = checkCompatibility(
    v2((f) => [...f, { name: 'owner', type: 'string' }]),
    V1,
    'BACKWARD',
  );
  assert.equal(issues.length, 1);
  assert.equal(issues[0]?.kind, 'field-added-without-default');
  assert.equal(issues[0]?.path, 'Thing.owner');
});

test('a removed field without a default is caught by the contract rule, naming the field', () => {
  const newer = v2((f) => f.filter((x) => x['name'] !== 'count'));
  // Pure Avro BACKWARD (Confluent) allows it: new readers just do not read it...
  assert.deepEqual(checkCompatibility(newer, V1, 'BACKWARD'), []);
  // ...but consumers still on v1 could not read v2 records, so captionflow refuses it.
  const issues = checkContractEvolution(newer, V1);
  assert.equal(issues.length, 1);
  assert.equal(issues[0]?.kind, 'field-removed-without-default');
  assert.equal(issues[0]?.path, 'Thing.count');
  assert.equal(issues[0]?.direction, 'forward');
  // Removing an optional field (it had a default) is fine.
  assert.deepEqual(
    checkContractEvolution(
      v2((f) => f.filter((x) => x['name'] !== 'note')),
      V1,
    ),
    [],
  );
});

test('a type change is caught, naming the field, also deep inside arrays of records', () => {
  const top = checkCompatibility(
    v2((f) => f.map((x) => (x['name'] === 'id' ? { ...x, type: 'int' } : x))),
    V1,
  );
  assert.deepEqual(
    top.map((i) => [i.kind, i.path]),
    [['type-changed', 'Thing.id']],
  );
  const deep = checkCompatibility(
    v2((f) =>
      f.map((x) =>
        x['name'] === 'parts'
          ? {
              ...x,
              type: {
                type: 'array',
                items: { type: 'record', name: 'Part', fields: [{ name: 'size', type: 'int' }] },
              },
            }
          : x,
      ),
    ),
    V1,
  );
  assert.deepEqual(
    deep.map((i) => i.path),
    ['Thing.parts[].size'],
  );
  assert.match(deep[0]?.message ?? '', /long cannot be read as int/);
});

test('Avro promotions are compatible one way only', () => {
  const widened = v2((f) => f.map((x) => (x['name'] === 'count' ? { ...x, type: 'long' } : x)));
  assert.deepEqual(checkCompatibility(widened, V1, 'BACKWARD'), []);
  assert.deepEqual(
    checkCompatibility(widened, V1, 'FORWARD').map((i) => i.path),
    ['Thing.count'],
  );
});

test('making an optional field required breaks BACKWARD (old nulls cannot be read)', () => {
  const issues = checkCompatibility(
    v2((f) => f.map((x) => (x['name'] === 'note' ? { name: 'note', type: 'string' } : x))),
    V1,
  );
  assert.deepEqual(
    issues.map((i) => [i.kind, i.path]),
    [['type-changed', 'Thing.note']],
  );
});

test('enum symbols may be added but not removed (without an enum default)', () => {
  const enumWith = (symbols: string[], extra: Record<string, unknown> = {}): AvroSchemaJson =>
    v2((f) =>
      f.map((x) =>
        x['name'] === 'kind' ? { ...x, type: { type: 'enum', name: 'Kind', symbols, ...extra } } : x,
      ),
    );
  assert.deepEqual(checkCompatibility(enumWith(['a', 'b', 'c']), V1), []);
  assert.deepEqual(
    checkCompatibility(enumWith(['a']), V1).map((i) => [i.kind, i.path]),
    [['enum-symbol-removed', 'Thing.kind']],
  );
  assert.deepEqual(checkCompatibility(enumWith(['a', 'other'], { default: 'other' }), V1), []);
});

test('a record renamed without an alias is caught; with an alias it is compatible', () => {
  const renamed = { ...(V1 as Record<string, unknown>), name: 'Item' };
  assert.deepEqual(
    checkCompatibility(renamed, V1).map((i) => i.kind),
    ['name-changed'],
  );
  assert.deepEqual(checkCompatibility({ ...renamed, aliases: ['test.v1.Thing'] }, V1), []);
});

test('a field renamed with an alias is compatible', () => {
  const newer = v2((f) =>
    f.map((x) => (x['name'] === 'count' ? { ...x, name: 'total', aliases: ['count'] } : x)),
  );
  assert.deepEqual(checkCompatibility(newer, V1, 'BACKWARD'), []);
});

test('every topic schema is FULL compatible with itself', () => {
  for (const t of allTopics) assert.deepEqual(checkCompatibility(t.schema, t.schema, 'FULL'), [], t.name);
});
