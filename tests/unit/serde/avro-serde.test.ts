import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AvroSerde } from '../../../runtime/serde/avro-serde.ts';
import { EmbeddedSchemaRegistry } from '../../../runtime/serde/embedded-schema-registry.ts';
import type { SchemaRegistry, SubjectVersion } from '../../../runtime/serde/schema-registry.ts';
import { frame } from '../../../runtime/serde/wire-format.ts';
import { PipelineError } from '../../../schemas/errors.ts';
import { Topics, allTopics, topicContract } from '../../../schemas/topics.ts';
import type { AvroSchemaJson } from '../../../schemas/avro-schemas.ts';
import {
  sampleCaptureReceived,
  sampleDeadLetter,
  sampleImageIngested,
  sampleJobRun,
} from '../schemas/samples.ts';

/** A registry that counts calls and can be told to fail, around the embedded one. */
class CountingRegistry implements SchemaRegistry {
  readonly calls = { register: 0, getById: 0, getLatest: 0 };
  failNext = 0;
  constructor(readonly inner: SchemaRegistry = new EmbeddedSchemaRegistry({ path: ':memory:' })) {}
  private gate(): void {
    if (this.failNext > 0) {
      this.failNext--;
      throw new PipelineError('SCHEMA_REGISTRY_UNAVAILABLE', 'down', { retriable: true });
    }
  }
  async register(subject: string, schema: AvroSchemaJson): Promise<number> {
    this.calls.register++;
    this.gate();
    return this.inner.register(subject, schema);
  }
  async getById(id: number): Promise<AvroSchemaJson> {
    this.calls.getById++;
    this.gate();
    return this.inner.getById(id);
  }
  async getLatest(subject: string): Promise<SubjectVersion> {
    this.calls.getLatest++;
    this.gate();
    return this.inner.getLatest(subject);
  }
}

function code(expected: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PipelineError, `expected a PipelineError, got ${String(err)}`);
    assert.equal(err.code, expected, err.message);
    return true;
  };
}

test('a value round-trips as plain data, framed as magic 0 + big-endian schema id + Avro binary', async () => {
  const serde = new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' }));
  const value = sampleImageIngested();
  const buf = await serde.encode(Topics.imageIngested, value);
  const id = await serde.schemaId(Topics.imageIngested);
  assert.equal(buf[0], 0);
  assert.equal(buf.readInt32BE(1), id);
  assert.deepEqual(buf.subarray(5), Topics.imageIngested.type.toBuffer(value));
  assert.deepEqual(buf, frame(id, Topics.imageIngested.type.toBuffer(value)));
  const decoded = await serde.decode(buf, Topics.imageIngested);
  assert.equal(decoded.schemaId, id);
  assert.deepEqual(decoded.value, value); // strict: plain objects, no avsc record classes
  assert.deepEqual((await serde.decode(buf)).value, value, 'without a reader: read as written');
});

test('samples with bytes, maps, nested optional records and unions round-trip for their topics', async () => {
  const serde = new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' }));
  const cases = [
    [Topics.captureReceived, sampleCaptureReceived()],
    [Topics.jobRun, sampleJobRun()],
    [Topics.deadLetter, sampleDeadLetter()],
  ] as const;
  for (const [topic, value] of cases) {
    const buf = await serde.encode(topic.name, value);
    assert.deepEqual((await serde.decode(buf, topic.name)).value, value, topic.name);
  }
});

test('random values of every topic schema round-trip', async () => {
  const serde = new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' }));
  for (const topic of allTopics) {
    for (let i = 0; i < 20; i++) {
      const value: unknown = topic.type.random();
      const buf = await serde.encode(topic.name, value);
      const { value: decoded } = await serde.decode(buf, topic.name);
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype, topic.name);
      assert.ok(topic.type.toBuffer(decoded).equals(buf.subarray(5)), topic.name);
    }
  }
});

test('the schema is registered once per topic and looked up once per id, even under concurrency', async () => {
  const registry = new CountingRegistry();
  const producer = new AvroSerde(registry);
  const frames = await Promise.all(
    Array.from({ length: 25 }, () => producer.encode(Topics.jobRun, sampleJobRun())),
  );
  assert.equal(registry.calls.register, 1);
  const consumer = new AvroSerde(registry);
  await Promise.all(frames.map((f) => consumer.decode(f, Topics.jobRun)));
  await Promise.all(frames.map((f) => consumer.decode(f)));
  assert.equal(registry.calls.getById, 1);
});

test('a registry failure is not cached: the next encode and decode try again', async () => {
  const registry = new CountingRegistry();
  const serde = new AvroSerde(registry);
  registry.failNext = 1;
  await assert.rejects(serde.encode(Topics.jobRun, sampleJobRun()), code('SCHEMA_REGISTRY_UNAVAILABLE'));
  const buf = await serde.encode(Topics.jobRun, sampleJobRun());
  const consumer = new AvroSerde(registry);
  registry.failNext = 1;
  await assert.rejects(consumer.decode(buf), code('SCHEMA_REGISTRY_UNAVAILABLE'));
  assert.deepEqual((await consumer.decode(buf, Topics.jobRun)).value, sampleJobRun());
});

test('bad frames fail with stable codes', async () => {
  const serde = new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' }));
  const good = await serde.encode(Topics.jobRun, sampleJobRun());
  const id = good.readInt32BE(1);
  await assert.rejects(serde.decode(Buffer.alloc(0)), code('PAYLOAD_TRUNCATED'));
  await assert.rejects(serde.decode(Buffer.from([0, 0, 0])), code('PAYLOAD_TRUNCATED'));
  await assert.rejects(serde.decode(Buffer.from('{"json":"not avro"}')), code('SCHEMA_BAD_MAGIC'));
  await assert.rejects(
    serde.decode(Buffer.concat([Buffer.from([1]), good.subarray(1)])),
    code('SCHEMA_BAD_MAGIC'),
  );
  await assert.rejects(serde.decode(frame(id + 1000, good.subarray(5))), code('SCHEMA_UNKNOWN_ID'));
  await assert.rejects(
    serde.decode(good.subarray(0, good.length - 3), Topics.jobRun),
    code('PAYLOAD_TRUNCATED'),
  );
  await assert.rejects(serde.decode(good.subarray(0, 5)), code('PAYLOAD_TRUNCATED'));
  await assert.rejects(serde.decode(Buffer.concat([good, Buffer.from([0x02])])), code('SCHEMA_MISMATCH'));
  // A payload that is not Avro of this schema: an out-of-range union branch, then enum symbol.
  const contract = topicContract('test.garbage', {
    type: 'record',
    name: 'G',
    fields: [
      { name: 'u', type: ['null', 'string'] },
      { name: 'e', type: { type: 'enum', name: 'E', symbols: ['a'] } },
    ],
  });
  const gid = await serde.schemaId(contract);
  await assert.rejects(serde.decode(frame(gid, Buffer.from([0x04, 0x00]))), code('SCHEMA_MISMATCH'));
  await assert.rejects(serde.decode(frame(gid, Buffer.from([0x00, 0x04]))), code('SCHEMA_MISMATCH'));
  assert.deepEqual((await serde.decode(frame(gid, Buffer.from([0x00, 0x00])))).value, { u: null, e: 'a' });
  // A Uint8Array (not a Buffer) view works the same.
  const view = new Uint8Array(good.buffer, good.byteOffset, good.byteLength);
  assert.deepEqual((await serde.decode(view, Topics.jobRun)).value, sampleJobRun());
});

test('a record of one topic read as another topic fails with SCHEMA_MISMATCH', async () => {
  const serde = new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' }));
  const buf = await serde.encode(Topics.imageIngested, sampleImageIngested());
  await assert.rejects(serde.decode(buf, Topics.jobRun), code('SCHEMA_MISMATCH'));
});

test('encoding an invalid value fails with SCHEMA_MISMATCH naming every failing field path', async () => {
  const serde = new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' }));
  const value = sampleImageIngested();
  const bad = {
    ...value,
    occurredAt: 'yesterday',
    lineage: { ...value.lineage, hops: [{ ...value.lineage.hops[0], offset: 1.5 }] },
  } as unknown as typeof value;
  await assert.rejects(serde.encode(Topics.imageIngested, bad), (err: unknown) => {
    assert.ok(err instanceof PipelineError);
    assert.equal(err.code, 'SCHEMA_MISMATCH');
    assert.deepEqual(err.context['paths'], [
      'occurredAt (got "yesterday")',
      'lineage.hops.0.offset (got 1.5)',
    ]);
    return true;
  });
  await assert.rejects(serde.encode('no.such.topic', {}), code('CONFIG_INVALID'));
});

test('fields with defaults may be left out when encoding', async () => {
  const serde = new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' }));
  const { lat, lon } = { lat: 1.5, lon: -2.25 };
  const minimal = { ...sampleCaptureReceived(), location: { lat, lon } };
  const buf = await serde.encode('capture.received', minimal);
  const { value } = await serde.decode(buf, Topics.captureReceived);
  assert.deepEqual(value.location, { lat, lon, accuracyMeters: null });
});

test('without autoRegister, encode uses the subject latest schema and never registers', async () => {
  const registry = new CountingRegistry();
  const producer = new AvroSerde(registry, { autoRegister: false });
  await assert.rejects(producer.encode(Topics.jobRun, sampleJobRun()), code('SCHEMA_SUBJECT_UNKNOWN'));
  const id = await registry.inner.register(Topics.jobRun.subject, Topics.jobRun.schema);
  const buf = await producer.encode(Topics.jobRun, sampleJobRun());
  assert.equal(buf.readInt32BE(1), id);
  assert.equal(registry.calls.register, 0);
  assert.deepEqual((await producer.decode(buf, Topics.jobRun)).value, sampleJobRun());
});

test('a contract outside Topics works with its own subject', async () => {
  const serde = new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' }));
  const contract = topicContract<{ n: number }>('test.numbers', {
    type: 'record',
    name: 'N',
    fields: [{ name: 'n', type: 'int' }],
  });
  assert.equal(contract.subject, 'test.numbers-value');
  const { value } = await serde.decode(await serde.encode(contract, { n: 7 }), contract);
  assert.deepEqual(value, { n: 7 });
});
