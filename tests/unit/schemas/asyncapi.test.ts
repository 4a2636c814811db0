import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';
import type { ValidateSchemaInput } from '@asyncapi/parser';
import { parse as parseYaml } from 'yaml';
import {
  ASYNCAPI_PATH,
  AVRO_SCHEMA_FORMAT,
  buildAsyncApi,
  generateAsyncApi,
} from '../../../schemas/asyncapi.ts';
import { allTopics } from '../../../schemas/topics.ts';

interface Doc {
  components: { messages: Record<string, { payload: { schemaFormat: string; schema: unknown } }> };
}

/**
 * The Avro schema parser's verdict on every message payload. @asyncapi/parser 3.6 converts the
 * Avro payloads of a 3.0 document to JSON Schema but validates them only for 2.x documents,
 * so the test runs the Avro parser's validate itself.
 */
async function avroProblems(doc: Doc): Promise<string[]> {
  const avro = AvroSchemaParser();
  const found: string[] = [];
  for (const [id, msg] of Object.entries(doc.components.messages)) {
    if (!avro.getMimeTypes().includes(msg.payload.schemaFormat))
      found.push(`${id}: schemaFormat ${msg.payload.schemaFormat}`);
    const input = {
      data: msg.payload.schema,
      meta: {},
      path: ['components', 'messages', id, 'payload'],
      schemaFormat: msg.payload.schemaFormat,
    } as unknown as ValidateSchemaInput;
    for (const d of (await avro.validate(input)) ?? []) found.push(`${id}: ${d.message}`);
  }
  return found;
}

test('docs/asyncapi.yaml is up to date with schemas/topics.ts (run `tsx schemas/asyncapi.ts`)', async () => {
  const expected = await generateAsyncApi();
  assert.ok(
    readFileSync(ASYNCAPI_PATH, 'utf8') === expected,
    'docs/asyncapi.yaml is stale: run `npx tsx schemas/asyncapi.ts`',
  );
});

test('docs/asyncapi.yaml is a valid AsyncAPI 3.0 document with one channel and Avro message per topic', async () => {
  const text = readFileSync(ASYNCAPI_PATH, 'utf8');
  const parser = new Parser();
  parser.registerSchemaParser(AvroSchemaParser());
  const { document, diagnostics } = await parser.parse(text);
  // Errors and warnings only (Spectral severities 0 and 1): a hint that 3.1.0 exists is fine.
  const serious = diagnostics
    .filter((d) => Number(d.severity) <= 1)
    .map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`);
  assert.deepEqual(serious, []);
  assert.deepEqual(await avroProblems(parseYaml(text) as Doc), []);
  assert.ok(document);
  assert.equal(document.version(), '3.0.0');
  const channels = document.channels().all();
  assert.deepEqual(channels.map((c) => c.address()).sort(), allTopics.map((t) => t.name).sort());
  for (const topic of allTopics) {
    const channel = channels.find((c) => c.address() === topic.name);
    assert.ok(channel, topic.name);
    const [msg] = channel.messages().all();
    assert.ok(msg, topic.name);
    assert.equal(msg.schemaFormat(), AVRO_SCHEMA_FORMAT, topic.name);
    assert.ok(msg.hasHeaders(), topic.name);
    const kafka = msg.bindings().get('kafka')?.value<{ key: { description: string } }>();
    assert.equal(kafka?.key.description, topic.key.description, topic.name);
  }
});

test('the Avro payload check is real: a broken Avro schema is reported', async () => {
  const doc = buildAsyncApi() as unknown as Doc;
  const msg = doc.components.messages['jobRun'];
  assert.ok(msg);
  msg.payload.schema = { type: 'record', name: 'Broken', fields: [{ name: 'x', type: 'no.such.Type' }] };
  const found = await avroProblems(doc);
  assert.equal(found.length, 1);
  assert.match(found[0] ?? '', /^jobRun: /);
});
