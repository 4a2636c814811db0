/**
 * Interop with Python's confluent-kafka AvroSerializer/AvroDeserializer through the real broker
 * and registry started by deploy/services: an image.ingested record produced by Python is
 * consumed and decoded by AvroSerde, and one produced by AvroSerde is decoded by Python —
 * field by field equal both ways. Each test uses a fresh topic (and so a fresh subject).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type { Admin, KafkaMessage } from 'kafkajs';
import { AvroSerde } from '../../../runtime/serde/avro-serde.ts';
import { ConfluentSchemaRegistry } from '../../../runtime/serde/confluent-schema-registry.ts';
import { Topics, topicContract } from '../../../schemas/topics.ts';
import type { TopicContract } from '../../../schemas/topics.ts';
import type { ImageIngested } from '../../../schemas/generated/types.ts';
import { sampleImageIngested } from '../../unit/schemas/samples.ts';
import { mustEnv, skipUnless, uniqueName } from '../services/service-env.ts';
import { interopPython } from './python-env.ts';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('./interop.py', import.meta.url));
const skipServers = skipUnless('CF_SCHEMA_REGISTRY_URL', 'CF_KAFKA_BROKERS');
const py = skipServers === false ? await interopPython() : { skip: skipServers };
const skip = 'skip' in py ? py.skip : false;

interface PyResult {
  schemaId?: number;
  diffs?: string[];
  error?: unknown;
}

async function python(args: string[]): Promise<{ code: number; result: PyResult; stderr: string }> {
  if ('skip' in py) throw new Error(py.skip);
  try {
    const { stdout, stderr } = await run(py.python, [SCRIPT, ...args], { timeout: 90_000 });
    return { code: 0, result: JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as PyResult, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    const last = (e.stdout ?? '').trim().split('\n').pop() ?? '';
    return {
      code: e.code ?? 1,
      result: (last.startsWith('{') ? JSON.parse(last) : { error: last }) as PyResult,
      stderr: e.stderr ?? '',
    };
  }
}

describe('Python confluent-kafka interop (real broker and registry)', { skip, timeout: 180_000 }, () => {
  let kafka: Kafka;
  let admin: Admin;
  let dir: string;
  const registryUrl = (): string => mustEnv('CF_SCHEMA_REGISTRY_URL');
  const brokers = (): string => mustEnv('CF_KAFKA_BROKERS');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cf-interop-'));
    kafka = new Kafka({
      clientId: uniqueName('cf-interop'),
      brokers: brokers().split(','),
      logLevel: logLevel.NOTHING,
    });
    admin = kafka.admin();
    await admin.connect();
  });

  after(async () => {
    await admin?.disconnect();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  async function newTopic(): Promise<TopicContract<ImageIngested>> {
    const name = uniqueName('cf-interop-image-ingested');
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 1 }], waitForLeaders: true });
    // A fresh topic with the image.ingested schema: subject `<topic>-value`, as Python derives it.
    return topicContract<ImageIngested>(name, Topics.imageIngested.schema);
  }

  async function firstMessage(topic: string): Promise<KafkaMessage> {
    const consumer = kafka.consumer({ groupId: uniqueName('cf-interop-group') });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      return await new Promise<KafkaMessage>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no record on ${topic} within 60 s`)), 60_000);
        consumer
          .run({
            eachMessage: ({ message }) => {
              clearTimeout(timer);
              resolve(message);
              return Promise.resolve();
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
  }

  test('a record produced by Python AvroSerializer is decoded by AvroSerde, field by field equal', async () => {
    const topic = await newTopic();
    const value = sampleImageIngested();
    const schemaFile = join(dir, 'schema.avsc');
    const valueFile = join(dir, 'py-value.json');
    writeFileSync(schemaFile, JSON.stringify(topic.schema));
    writeFileSync(valueFile, JSON.stringify(value));
    const produced = await python([
      'produce',
      '--brokers',
      brokers(),
      '--registry',
      registryUrl(),
      '--topic',
      topic.name,
      '--schema-file',
      schemaFile,
      '--value-file',
      valueFile,
    ]);
    assert.equal(
      produced.code,
      0,
      `python produce failed: ${JSON.stringify(produced.result)} ${produced.stderr}`,
    );

    const message = await firstMessage(topic.name);
    assert.equal(message.key?.toString(), value.imageId);
    assert.ok(message.value);
    const serde = new AvroSerde(new ConfluentSchemaRegistry({ url: registryUrl() }));
    const decoded = await serde.decode(message.value, topic);
    assert.equal(decoded.schemaId, produced.result.schemaId);
    assert.deepEqual(decoded.value, value);
    // Python registered the same schema we would have: our encode reuses its id.
    assert.equal(await serde.schemaId(topic), produced.result.schemaId);
  });

  test('a record produced by AvroSerde is decoded by Python AvroDeserializer, field by field equal', async () => {
    const topic = await newTopic();
    const value = sampleImageIngested();
    const serde = new AvroSerde(new ConfluentSchemaRegistry({ url: registryUrl() }));
    const producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      await producer.send({
        topic: topic.name,
        acks: -1,
        messages: [{ key: value.imageId, value: await serde.encode(topic, value) }],
      });
    } finally {
      await producer.disconnect();
    }
    const expectFile = join(dir, 'ts-value.json');
    writeFileSync(expectFile, JSON.stringify(value));
    const consumed = await python([
      'consume',
      '--brokers',
      brokers(),
      '--registry',
      registryUrl(),
      '--topic',
      topic.name,
      '--expect-file',
      expectFile,
    ]);
    assert.equal(consumed.code, 0, `python consume: ${JSON.stringify(consumed.result)} ${consumed.stderr}`);
    assert.deepEqual(consumed.result.diffs, []);
    assert.equal(consumed.result.schemaId, await serde.schemaId(topic));
  });
});
