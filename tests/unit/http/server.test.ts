import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createHttpServer, MAX_PARAM_LENGTH } from '../../../runtime/http/server.ts';
import { createLogger } from '../../../runtime/logger.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';

function setup() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const metrics = new Metrics();
  const app = createHttpServer({ logger: createLogger({ destination, level: 'info' }), metrics, apiKeys: ['s3cret-key'] });
  app.post('/things', { config: { auth: 'api-key' } }, () => ({ created: true }));
  app.get('/bad', () => {
    throw new PipelineError(ErrorCodes.IMAGE_DECODE_FAILED, 'not an image', { context: { field: 'file' } });
  });
  app.get('/named/:name', (req) => ({ length: (req.params as { name: string }).name.length }));
  app.get('/down', () => {
    throw new PipelineError(ErrorCodes.STORAGE_UNAVAILABLE, 'lake unreachable', { retriable: true });
  });
  return { app, metrics, lines };
}

test('mutating routes need a valid API key; the key never reaches the logs', async () => {
  const { app, lines } = setup();
  assert.equal((await app.inject({ method: 'POST', url: '/things' })).statusCode, 401);
  const wrong = await app.inject({ method: 'POST', url: '/things', headers: { 'x-api-key': 'nope' } });
  assert.equal(wrong.statusCode, 403);
  assert.equal(wrong.json<{ error: { code: string } }>().error.code, 'FORBIDDEN');
  assert.equal((await app.inject({ method: 'POST', url: '/things', headers: { authorization: 'Bearer s3cret-key' } })).statusCode, 200);
  assert.equal((await app.inject({ method: 'POST', url: '/things', headers: { 'x-api-key': 's3cret-key' } })).statusCode, 200);
  assert.ok(lines.length > 0);
  assert.ok(lines.every((l) => !l.includes('s3cret-key')));
  await app.close();
});

test('bad input is a 4xx with the stable code and reason; infrastructure errors are 503', async () => {
  const { app } = setup();
  const bad = await app.inject({ method: 'GET', url: '/bad' });
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(bad.json(), { error: { code: 'IMAGE_DECODE_FAILED', message: 'not an image', context: { field: 'file' } } });
  const down = await app.inject({ method: 'GET', url: '/down' });
  assert.equal(down.statusCode, 503);
  await app.close();
});

test('router errors get the error body: long path parameters reach the route up to MAX_PARAM_LENGTH, then 414; unknown routes 404', async () => {
  const { app } = setup();
  const long = await app.inject({ method: 'GET', url: `/named/${'n'.repeat(300)}` });
  assert.equal(long.statusCode, 200, 'past Fastify\'s default of 100 characters the route still answers');
  assert.deepEqual(long.json(), { length: 300 });
  const tooLong = await app.inject({ method: 'GET', url: `/named/${'n'.repeat(MAX_PARAM_LENGTH + 1)}` });
  assert.equal(tooLong.statusCode, 414);
  assert.equal(tooLong.json<{ error: { code: string } }>().error.code, 'FST_ERR_MAX_PARAM_LENGTH');
  const unknown = await app.inject({ method: 'PUT', url: '/named/x?y=1' });
  assert.equal(unknown.statusCode, 404);
  assert.deepEqual(unknown.json(), { error: { code: 'ROUTE_NOT_FOUND', message: 'no route PUT /named/x' } });
  const badEscape = await app.inject({ method: 'GET', url: '/named/%E0%A4%A' });
  assert.equal(badEscape.statusCode, 400);
  assert.equal(badEscape.json<{ error: { code: string } }>().error.code, 'FST_ERR_BAD_URL');
  await app.close();
});

test('every endpoint is counted on /metrics with the standard label set', async () => {
  const { app } = setup();
  await app.inject({ method: 'GET', url: '/bad' });
  await app.inject({ method: 'GET', url: '/healthz' });
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(text, /captionflow_step_records_total\{topology="http",step="GET \/bad",schema_id="",model_version="",outcome="400"\} 1/);
  assert.match(text, /captionflow_step_duration_seconds_bucket\{le="[^"]+",topology="http",step="GET \/healthz"/);
  await app.close();
});
