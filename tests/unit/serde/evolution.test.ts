/**
 * Schema evolution through AvroSerde on one embedded registry: producers and consumers on
 * different versions of the image.ingested schema share a topic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AvroSerde } from '../../../runtime/serde/avro-serde.ts';
import { EmbeddedSchemaRegistry } from '../../../runtime/serde/embedded-schema-registry.ts';
import { PipelineError } from '../../../schemas/errors.ts';
import { Topics, topicContract } from '../../../schemas/topics.ts';
import type { AvroSchemaJson } from '../../../schemas/avro-schemas.ts';
import type { ImageIngested } from '../../../schemas/generated/types.ts';
import { sampleImageIngested } from '../schemas/samples.ts';

type Rec = { readonly fields: readonly Record<string, unknown>[] } & Record<string, unknown>;

/** image.ingested v2: a new optional top-level field, a new list with a default, a new field in the nested Lineage. */
function v2Schema(): AvroSchemaJson {
  const v1 = structuredClone(Topics.imageIngested.schema) as Rec;
  const fields = v1.fields.map((f) => {
    if (f['name'] !== 'lineage') return f;
    const lineage = f['type'] as Rec;
    return {
      ...f,
      type: {
        ...lineage,
        fields: [...lineage.fields, { name: 'traceId', doc: 'v2', type: ['null', 'string'], default: null }],
      },
    };
  });
  return {
    ...v1,
    fields: [
      ...fields,
      { name: 'sharpness', doc: 'v2', type: ['null', 'double'], default: null },
      { name: 'tags', doc: 'v2', type: { type: 'array', items: 'string' }, default: [] },
    ],
  };
}

type ImageIngestedV2 = ImageIngested & {
  sharpness: number | null;
  tags: string[];
  lineage: ImageIngested['lineage'] & { traceId: string | null };
};

const V2 = topicContract<ImageIngestedV2>(Topics.imageIngested.name, v2Schema());

test('a consumer on v2 reads v1 records: the new fields take their defaults', async () => {
  const registry = new EmbeddedSchemaRegistry({ path: ':memory:' });
  const producerV1 = new AvroSerde(registry);
  const consumerV2 = new AvroSerde(registry);
  const v1Value = sampleImageIngested();
  const buf = await producerV1.encode(Topics.imageIngested, v1Value);
  const { schemaId, value } = await consumerV2.decode(buf, V2);
  assert.equal(schemaId, await producerV1.schemaId(Topics.imageIngested));
  assert.deepEqual(value, {
    ...v1Value,
    sharpness: null,
    tags: [],
    lineage: { ...v1Value.lineage, traceId: null },
  });
  // Defaults are fresh per record: changing one decoded record's default list leaves the next alone.
  (value.tags as string[]).push('edited');
  assert.deepEqual((await consumerV2.decode(buf, V2)).value.tags, []);
  assert.equal(Object.getPrototypeOf(value.lineage), Object.prototype, 'nested records read as plain objects too');
  await registry.close();
});

test('a consumer on v1 reads v2 records: the new fields are skipped', async () => {
  const registry = new EmbeddedSchemaRegistry({ path: ':memory:' });
  const producerV1 = new AvroSerde(registry);
  const producerV2 = new AvroSerde(registry);
  const consumerV1 = new AvroSerde(registry);
  // v1 is registered first, so registering v2 goes through the BACKWARD check.
  const v1Id = await producerV1.schemaId(Topics.imageIngested);
  const base = sampleImageIngested();
  const v2Value: ImageIngestedV2 = {
    ...base,
    sharpness: 312.5,
    tags: ['beach', 'dog'],
    lineage: { ...base.lineage, traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
  };
  const buf = await producerV2.encode(V2, v2Value);
  const v2Id = buf.readInt32BE(1);
  assert.notEqual(v2Id, v1Id);
  assert.equal((await registry.getLatest(Topics.imageIngested.subject)).version, 2);
  const { schemaId, value } = await consumerV1.decode(buf, Topics.imageIngested);
  assert.equal(schemaId, v2Id);
  assert.deepEqual(value, base);
  // And the v2 consumer gets everything.
  assert.deepEqual((await producerV2.decode(buf, V2)).value, v2Value);
  await registry.close();
});

test('a v2 that adds a field without a default is refused by the registry on first encode', async () => {
  const registry = new EmbeddedSchemaRegistry({ path: ':memory:' });
  await new AvroSerde(registry).schemaId(Topics.imageIngested);
  const v1 = Topics.imageIngested.schema as Rec;
  const breaking = topicContract<ImageIngested & { owner: string }>(Topics.imageIngested.name, {
    ...v1,
    fields: [...v1.fields, { name: 'owner', type: 'string' }],
  });
  await assert.rejects(
    new AvroSerde(registry).encode(breaking, { ...sampleImageIngested(), owner: 'x' }),
    (err: unknown) => {
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, 'SCHEMA_INCOMPATIBLE');
      assert.match(err.message, /ImageIngested\.owner: added without a default/);
      return true;
    },
  );
  await registry.close();
});
