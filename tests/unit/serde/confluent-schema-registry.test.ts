/**
 * The Confluent REST adapter against a small in-test HTTP server on 127.0.0.1 that speaks the
 * Confluent API over an embedded registry (the real servers are covered by
 * tests/integration/serde).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AvroSerde } from '../../../runtime/serde/avro-serde.ts';
import { ConfluentSchemaRegistry } from '../../../runtime/serde/confluent-schema-registry.ts';
import { EmbeddedSchemaRegistry } from '../../../runtime/serde/embedded-schema-registry.ts';
import { PipelineError } from '../../../schemas/errors.ts';
import { Topics } from '../../../schemas/topics.ts';
import type { AvroSchemaJson } from '../../../schemas/avro-schemas.ts';
import { sampleImageIngested } from '../schemas/samples.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface FakeRegistry {
  url: string;
  seen: Seen[];
  /** Answer the next request with this status and body instead. */
  override: { status: number; body: unknown; delayMs?: number } | undefined;
  close(): Promise<void>;
}

async function startFake(): Promise<FakeRegistry> {
  const store = new EmbeddedSchemaRegistry({ path: ':memory:' });
  const fake: FakeRegistry = { url: '', seen: [], override: undefined, close: () => Promise.resolve() };
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    fake.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const override = fake.override;
    if (override !== undefined) {
      fake.override = undefined;
      if (override.delayMs !== undefined) await new Promise((r) => setTimeout(r, override.delayMs));
      send(res, override.status, override.body);
      return;
    }
    const url = req.url ?? '';
    let m: RegExpMatchArray | null;
    try {
      if (req.method === 'POST' && (m = url.match(/^\/subjects\/([^/]+)\/versions$/)) !== null) {
        const { schema } = JSON.parse(body) as { schema: string };
        send(res, 200, {
          id: await store.register(decodeURIComponent(m[1] ?? ''), JSON.parse(schema) as AvroSchemaJson),
        });
      } else if (req.method === 'GET' && (m = url.match(/^\/schemas\/ids\/(\d+)$/)) !== null) {
        send(res, 200, { schema: JSON.stringify(await store.getById(Number(m[1]))) });
      } else if (
        req.method === 'GET' &&
        (m = url.match(/^\/subjects\/([^/]+)\/versions\/latest$/)) !== null
      ) {
        const subject = decodeURIComponent(m[1] ?? '');
        const latest = await store.getLatest(subject);
        send(res, 200, {
          subject,
          id: latest.id,
          version: latest.version,
          schema: JSON.stringify(latest.schema),
        });
      } else send(res, 404, { error_code: 404, message: 'HTTP 404 Not Found' });
    } catch (err) {
      const code = err instanceof PipelineError ? err.code : '';
      if (code === 'SCHEMA_UNKNOWN_ID') send(res, 404, { error_code: 40403, message: 'Schema not found' });
      else if (code === 'SCHEMA_SUBJECT_UNKNOWN')
        send(res, 404, { error_code: 40401, message: 'Subject not found' });
      else if (code === 'SCHEMA_INCOMPATIBLE') send(res, 409, { error_code: 409, message: 'incompatible' });
      else send(res, 500, { error_code: 50001, message: String(err) });
    }
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
  };
  return fake;
}

function code(expected: string, retriable?: boolean) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PipelineError, String(err));
    assert.equal(err.code, expected, err.message);
    if (retriable !== undefined) assert.equal(err.retriable, retriable);
    return true;
  };
}

test('register, getById and getLatest speak the Confluent REST API', async (t) => {
  const fake = await startFake();
  t.after(() => fake.close());
  const registry = new ConfluentSchemaRegistry({
    url: `${fake.url}/`,
    auth: { username: 'u', password: 'p' },
  });
  const schema = Topics.jobRun.schema;
  const id = await registry.register('job.run-value', schema);
  const post = fake.seen[0];
  assert.equal(post?.method, 'POST');
  assert.equal(post?.url, '/subjects/job.run-value/versions');
  assert.equal(post?.headers['content-type'], 'application/vnd.schemaregistry.v1+json');
  assert.equal(post?.headers['authorization'], `Basic ${Buffer.from('u:p').toString('base64')}`);
  assert.deepEqual(JSON.parse(post?.body ?? ''), { schema: JSON.stringify(schema) });
  assert.deepEqual(await registry.getById(id), schema);
  assert.deepEqual(await registry.getLatest('job.run-value'), { id, version: 1, schema });
});

test('registry errors map to stable codes; only transient ones are retriable', async (t) => {
  const fake = await startFake();
  t.after(() => fake.close());
  const registry = new ConfluentSchemaRegistry({ url: fake.url, timeoutMs: 300 });
  await assert.rejects(registry.getById(12345), code('SCHEMA_UNKNOWN_ID', false));
  await assert.rejects(registry.getLatest('nope-value'), code('SCHEMA_SUBJECT_UNKNOWN', false));
  fake.override = {
    status: 409,
    body: { error_code: 409, message: 'Schema being registered is incompatible' },
  };
  await assert.rejects(
    registry.register('x-value', Topics.jobRun.schema),
    code('SCHEMA_INCOMPATIBLE', false),
  );
  fake.override = { status: 422, body: { error_code: 42201, message: 'Invalid schema' } };
  await assert.rejects(registry.register('x-value', Topics.jobRun.schema), code('SCHEMA_INVALID', false));
  fake.override = { status: 503, body: { message: 'unavailable' } };
  await assert.rejects(registry.getById(1), code('SCHEMA_REGISTRY_UNAVAILABLE', true));
  fake.override = { status: 401, body: { message: 'unauthorized' } };
  await assert.rejects(registry.getById(1), code('CONFIG_INVALID', false));
  fake.override = { status: 200, body: { id: 1 }, delayMs: 1_000 };
  await assert.rejects(registry.getById(1), code('TIMEOUT', true));
});

test('an unreachable registry is a retriable SCHEMA_REGISTRY_UNAVAILABLE; a bad url fails at construction', async () => {
  const fake = await startFake();
  const url = fake.url;
  await fake.close(); // nothing listens on the port any more
  await assert.rejects(
    new ConfluentSchemaRegistry({ url }).getById(1),
    code('SCHEMA_REGISTRY_UNAVAILABLE', true),
  );
  assert.throws(() => new ConfluentSchemaRegistry({ url: 'not a url' }), code('CONFIG_INVALID'));
  assert.throws(() => new ConfluentSchemaRegistry({ url: 'ftp://x' }), code('CONFIG_INVALID'));
});

test('frames made through the REST adapter are byte-identical to the embedded ones for the same id', async (t) => {
  const fake = await startFake();
  t.after(() => fake.close());
  const overRest = new AvroSerde(new ConfluentSchemaRegistry({ url: fake.url }));
  const embedded = new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' }));
  const value = sampleImageIngested();
  const a = await overRest.encode(Topics.imageIngested, value);
  const b = await embedded.encode(Topics.imageIngested, value);
  assert.equal(a.readInt32BE(1), b.readInt32BE(1), 'both stores gave the first schema the same id');
  assert.ok(a.equals(b));
  assert.deepEqual((await overRest.decode(b, Topics.imageIngested)).value, value);
});
