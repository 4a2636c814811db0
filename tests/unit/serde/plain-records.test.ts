import { test } from 'node:test';
import assert from 'node:assert/strict';
import avro from 'avsc';
import type { Schema } from 'avsc';
import { forSchemaPlain } from '../../../runtime/serde/plain-records.ts';

const schema: Schema = {
  type: 'record',
  name: 'Outer',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'tags', type: { type: 'array', items: { type: 'record', name: 'Tag', fields: [{ name: 'k', type: 'string' }] } } },
    { name: 'inner', type: ['null', { type: 'record', name: 'Inner', fields: [{ name: 'n', type: 'int', default: 7 }] }], default: null },
    { name: 'byName', type: { type: 'map', values: 'Tag' } },
  ],
};
const value = { id: 'a', tags: [{ k: 'x' }], inner: { n: 3 }, byName: { t: { k: 'y' } } };

test('records decode as plain objects all the way down, and compare strictly with literals', () => {
  const { type, plain } = forSchemaPlain(schema);
  assert.equal(plain, true);
  const decoded = type.fromBuffer(type.toBuffer(value)) as typeof value;
  assert.deepStrictEqual(decoded, value);
  for (const o of [decoded, decoded.tags[0], decoded.inner, decoded.byName['t']]) assert.equal(Object.getPrototypeOf(o), Object.prototype);
});

test('records read through a resolver (an older writer) are plain, with defaults filled in', () => {
  const { type } = forSchemaPlain(schema);
  const writer = avro.Type.forSchema({ type: 'record', name: 'Outer', fields: [{ name: 'id', type: 'string' }, { name: 'tags', type: { type: 'array', items: { type: 'record', name: 'Tag', fields: [{ name: 'k', type: 'string' }] } } }, { name: 'byName', type: { type: 'map', values: 'Tag' } }] });
  const resolver = type.createResolver(writer);
  const bytes = writer.toBuffer({ id: 'b', tags: [], byName: {} });
  const a = type.fromBuffer(bytes, resolver) as Record<string, unknown>;
  assert.deepStrictEqual(a, { id: 'b', tags: [], inner: null, byName: {} });
  assert.equal(Object.getPrototypeOf(a), Object.prototype);
});

test('other avsc types in the process keep their record classes and methods', () => {
  forSchemaPlain(schema);
  const other = avro.Type.forSchema(schema);
  const decoded = other.fromBuffer(other.toBuffer(value)) as { toBuffer?: unknown };
  assert.notEqual(Object.getPrototypeOf(decoded), Object.prototype);
  assert.equal(typeof decoded.toBuffer, 'function');
  const methodless = avro.Type.forSchema(schema, { omitRecordMethods: true }).fromBuffer(other.toBuffer(value)) as object;
  assert.notEqual(Object.getPrototypeOf(methodless), Object.prototype);
});
