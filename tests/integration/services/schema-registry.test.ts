/**
 * `@kafkajs/confluent-schema-registry` against Apicurio Registry's Confluent-compatible API
 * (`CF_SCHEMA_REGISTRY_URL`, ending `/apis/ccompat/v7`): register an Avro schema, fetch it by
 * id, and round-trip a record through the Confluent wire format.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { mustEnv, skipUnless, uniqueName } from './service-env.ts';

const skip = skipUnless('CF_SCHEMA_REGISTRY_URL');

function captionSchema(namespace: string, withLang: boolean): string {
  return JSON.stringify({
    type: 'record',
    name: 'Caption',
    namespace,
    fields: [
      { name: 'imageId', type: 'string' },
      { name: 'text', type: 'string' },
      ...(withLang ? [{ name: 'lang', type: 'string', default: 'en' }] : []),
    ],
  });
}

describe('schema registry (Confluent client against Apicurio ccompat)', { skip, timeout: 60_000 }, () => {
  test('a registered Avro schema is fetched back by id and encodes/decodes records', async () => {
    const registry = new SchemaRegistry({ host: mustEnv('CF_SCHEMA_REGISTRY_URL') });
    // Avro namespaces allow no dashes.
    const namespace = uniqueName('cf.test').replace(/-/g, '_');
    const subject = `${uniqueName('cf-test-caption')}-value`;
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: captionSchema(namespace, false) },
      { subject },
    );
    assert.ok(Number.isInteger(id) && id > 0, `positive integer id, got ${id}`);

    const fetched = await registry.getSchema(id);
    assert.equal((fetched as { name?: string }).name, `${namespace}.Caption`);
    assert.equal(await registry.getLatestSchemaId(subject), id);

    const record = { imageId: 'img-1', text: 'a dog on a beach' };
    const encoded = await registry.encode(id, record);
    assert.equal(encoded[0], 0, 'Confluent magic byte');
    assert.equal(encoded.readInt32BE(1), id, 'schema id after the magic byte');
    assert.deepEqual({ ...(await registry.decode(encoded)) }, record);

    // Registering the same schema again gives the same id.
    const again = await registry.register(
      { type: SchemaType.AVRO, schema: captionSchema(namespace, false) },
      { subject },
    );
    assert.equal(again.id, id);
  });

  test('a backward-compatible new version gets a new id and old records still decode', async () => {
    const registry = new SchemaRegistry({ host: mustEnv('CF_SCHEMA_REGISTRY_URL') });
    const namespace = uniqueName('cf.test').replace(/-/g, '_');
    const subject = `${uniqueName('cf-test-caption')}-value`;
    const v1 = await registry.register(
      { type: SchemaType.AVRO, schema: captionSchema(namespace, false) },
      { subject },
    );
    const old = await registry.encode(v1.id, { imageId: 'img-2', text: 'two cats' });
    const v2 = await registry.register(
      { type: SchemaType.AVRO, schema: captionSchema(namespace, true) },
      { subject },
    );
    assert.notEqual(v2.id, v1.id);
    assert.equal(await registry.getRegistryId(subject, 2), v2.id);
    assert.deepEqual({ ...(await registry.decode(old)) }, { imageId: 'img-2', text: 'two cats' });
  });
});
