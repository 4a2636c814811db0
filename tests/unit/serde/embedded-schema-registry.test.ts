import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedSchemaRegistry } from '../../../runtime/serde/embedded-schema-registry.ts';
import { PipelineError } from '../../../schemas/errors.ts';
import type { AvroSchemaJson } from '../../../schemas/avro-schemas.ts';

const V1: AvroSchemaJson = {
  type: 'record',
  name: 'E',
  namespace: 't',
  fields: [{ name: 'a', type: 'string' }],
};
const V2: AvroSchemaJson = {
  type: 'record',
  name: 'E',
  namespace: 't',
  fields: [
    { name: 'a', type: 'string' },
    { name: 'b', type: ['null', 'int'], default: null },
  ],
};
const BREAKING: AvroSchemaJson = {
  type: 'record',
  name: 'E',
  namespace: 't',
  fields: [
    { name: 'a', type: 'string' },
    { name: 'c', type: 'int' },
  ],
};

function hasCode(code: string) {
  return (err: unknown): boolean => err instanceof PipelineError && err.code === code;
}

test('ids are global, versions per subject, and re-registering is idempotent', async () => {
  const reg = new EmbeddedSchemaRegistry({ path: ':memory:' });
  const id1 = await reg.register('a-value', V1);
  assert.equal(await reg.register('a-value', V1), id1, 'same schema, same id');
  // Reordered attributes: still the same schema.
  const reordered = JSON.parse(
    '{"namespace":"t","fields":[{"type":"string","name":"a"}],"name":"E","type":"record"}',
  ) as AvroSchemaJson;
  assert.equal(await reg.register('a-value', reordered), id1);
  const id2 = await reg.register('a-value', V2);
  assert.notEqual(id2, id1);
  assert.deepEqual(await reg.getLatest('a-value'), { id: id2, version: 2, schema: V2 });
  // The same schema under another subject keeps its global id, at version 1 there.
  assert.equal(await reg.register('b-value', V1), id1);
  assert.deepEqual(await reg.getLatest('b-value'), { id: id1, version: 1, schema: V1 });
  assert.deepEqual(await reg.getById(id1), V1);
  assert.deepEqual(await reg.subjects(), ['a-value', 'b-value']);
  await reg.close();
});

test('BACKWARD compatibility is enforced on register and the error names the field', async () => {
  const reg = new EmbeddedSchemaRegistry({ path: ':memory:' });
  await reg.register('e-value', V1);
  await assert.rejects(reg.register('e-value', BREAKING), (err: unknown) => {
    assert.ok(err instanceof PipelineError);
    assert.equal(err.code, 'SCHEMA_INCOMPATIBLE');
    assert.match(err.message, /E\.c: added without a default/);
    return true;
  });
  assert.equal((await reg.getLatest('e-value')).version, 1, 'the rejected schema added no version');
  // With NONE the same schema goes in.
  const lax = new EmbeddedSchemaRegistry({ path: ':memory:', compatibility: 'NONE' });
  await lax.register('e-value', V1);
  assert.equal(typeof (await lax.register('e-value', BREAKING)), 'number');
  await Promise.all([reg.close(), lax.close()]);
});

test('unknown ids and subjects, and invalid schemas, fail with stable codes', async () => {
  const reg = new EmbeddedSchemaRegistry({ path: ':memory:' });
  await assert.rejects(reg.getById(999), hasCode('SCHEMA_UNKNOWN_ID'));
  await assert.rejects(reg.getLatest('nope-value'), hasCode('SCHEMA_SUBJECT_UNKNOWN'));
  await assert.rejects(
    reg.register('x-value', { type: 'record', name: 'X', fields: [{ name: 'a', type: 'nope' }] }),
    hasCode('SCHEMA_INVALID'),
  );
  assert.throws(() => new EmbeddedSchemaRegistry({ path: '' }), hasCode('CONFIG_INVALID'));
  await reg.close();
});

test('a registry file keeps its ids across reopen and is shared by two handles', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cf-registry-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'schemas.db');
  const first = new EmbeddedSchemaRegistry({ path });
  const second = new EmbeddedSchemaRegistry({ path });
  const id1 = await first.register('e-value', V1);
  assert.equal(await second.register('e-value', V1), id1, 'the other handle sees the registration');
  const id2 = await second.register('e-value', V2);
  await Promise.all([first.close(), second.close()]);
  const reopened = new EmbeddedSchemaRegistry({ path });
  assert.deepEqual(await reopened.getById(id2), V2);
  assert.equal((await reopened.getLatest('e-value')).version, 2);
  await reopened.close();
});
