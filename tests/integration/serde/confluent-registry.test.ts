/**
 * The Confluent REST adapter and AvroSerde against the real registry started by
 * deploy/services (Apicurio's /apis/ccompat/v7), compared with the embedded registry. Each
 * test registers under fresh subjects.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SchemaRegistry as KafkajsSchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { AvroSerde } from '../../../runtime/serde/avro-serde.ts';
import { ConfluentSchemaRegistry } from '../../../runtime/serde/confluent-schema-registry.ts';
import { EmbeddedSchemaRegistry } from '../../../runtime/serde/embedded-schema-registry.ts';
import { frame } from '../../../runtime/serde/wire-format.ts';
import { PipelineError } from '../../../schemas/errors.ts';
import { Topics, topicContract } from '../../../schemas/topics.ts';
import type { AvroSchemaJson } from '../../../schemas/avro-schemas.ts';
import type { ImageIngested, JobRun } from '../../../schemas/generated/types.ts';
import { sampleImageIngested, sampleJobRun } from '../../unit/schemas/samples.ts';
import { mustEnv, skipUnless, uniqueName } from '../services/service-env.ts';

const skip = skipUnless('CF_SCHEMA_REGISTRY_URL');

function code(expected: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PipelineError, String(err));
    assert.equal(err.code, expected, err.message);
    return true;
  };
}

describe('Confluent-compatible schema registry (real server)', { skip, timeout: 60_000 }, () => {
  const url = (): string => mustEnv('CF_SCHEMA_REGISTRY_URL');

  test('register is idempotent, ids are global, getById and getLatest return the schema', async () => {
    const registry = new ConfluentSchemaRegistry({ url: url() });
    const subject = `${uniqueName('cf-serde')}-value`;
    const schema = Topics.jobRun.schema;
    const id = await registry.register(subject, schema);
    assert.equal(await registry.register(subject, schema), id, 're-register gives the same id');
    assert.deepEqual(await registry.getById(id), schema);
    assert.deepEqual(await registry.getLatest(subject), { id, version: 1, schema });
    const other = `${uniqueName('cf-serde')}-value`;
    assert.equal(await registry.register(other, schema), id, 'same schema, other subject: same global id');
    assert.equal((await registry.getLatest(other)).version, 1);
  });

  test('unknown ids and subjects fail with stable codes', async () => {
    const registry = new ConfluentSchemaRegistry({ url: url() });
    await assert.rejects(registry.getById(2_000_000_000), code('SCHEMA_UNKNOWN_ID'));
    await assert.rejects(
      registry.getLatest(`${uniqueName('cf-missing')}-value`),
      code('SCHEMA_SUBJECT_UNKNOWN'),
    );
    await assert.rejects(
      registry.register(`${uniqueName('cf-serde')}-value`, {
        type: 'record',
        name: 'X',
        fields: [{ name: 'a', type: 'nope' }],
      }),
      code('SCHEMA_INVALID'),
    );
  });

  test('with compatibility BACKWARD the registry refuses a breaking version', async () => {
    const registry = new ConfluentSchemaRegistry({ url: url(), compatibility: 'BACKWARD' });
    const subject = `${uniqueName('cf-serde')}-value`;
    const v1: AvroSchemaJson = {
      type: 'record',
      name: 'E',
      namespace: 't',
      fields: [{ name: 'a', type: 'string' }],
    };
    const v2: AvroSchemaJson = {
      type: 'record',
      name: 'E',
      namespace: 't',
      fields: [
        { name: 'a', type: 'string' },
        { name: 'b', type: ['null', 'int'], default: null },
      ],
    };
    const breaking: AvroSchemaJson = {
      type: 'record',
      name: 'E',
      namespace: 't',
      fields: [{ name: 'a', type: 'int' }],
    };
    await registry.register(subject, v1);
    await assert.rejects(registry.register(subject, breaking), code('SCHEMA_INCOMPATIBLE'));
    await registry.register(subject, v2);
    assert.equal((await registry.getLatest(subject)).version, 2);
  });

  test('frames are byte-identical to the embedded registry frames for the same schema id', async () => {
    const topic = topicContract<ImageIngested>(uniqueName('cf-serde-topic'), Topics.imageIngested.schema);
    const remote = new AvroSerde(new ConfluentSchemaRegistry({ url: url() }));
    const embedded = new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' }));
    const value = sampleImageIngested();
    const a = await remote.encode(topic, value);
    const b = await embedded.encode(topic, value);
    const remoteId = await remote.schemaId(topic);
    assert.equal(a.readInt32BE(1), remoteId);
    assert.ok(a.equals(frame(remoteId, b.subarray(5))), 'same bytes once the id is the same');
    assert.deepEqual((await remote.decode(a, topic)).value, value);
  });

  test('@kafkajs/confluent-schema-registry decodes our frames and we decode its frames', async () => {
    const topic = topicContract<JobRun>(uniqueName('cf-serde-topic'), Topics.jobRun.schema);
    const ours = new AvroSerde(new ConfluentSchemaRegistry({ url: url() }));
    const theirs = new KafkajsSchemaRegistry({ host: url() });
    const value = sampleJobRun();
    const mine = await ours.encode(topic, value);
    const decodedByThem = (await theirs.decode(mine)) as Record<string, unknown>;
    assert.deepEqual(JSON.parse(JSON.stringify(decodedByThem)), JSON.parse(JSON.stringify(value)));
    const id = await ours.schemaId(topic);
    const theirFrame = await theirs.encode(id, value);
    assert.ok(theirFrame.equals(mine), 'the kafkajs client frames the same value to the same bytes');
    assert.deepEqual((await ours.decode(theirFrame, topic)).value, value);
  });
});
