import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { topic } from '../../../runtime/engine/topology.ts';
import { topology } from '../../../runtime/engine/builder.ts';
import { runTopology } from '../../../runtime/engine/runner.ts';
import { JsonSerde } from '../../../runtime/engine/json-serde.ts';
import { createHttpServer } from '../../../runtime/http/server.ts';
import { PAUSE_REASON_PATTERN, registerTopologyAdminRoutes } from '../../../runtime/http/topology-admin.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { createMemoryLog } from '../../../runtime/log/memory-log.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { deferrer } from '../../fixtures/defer.ts';

const KEY = { 'x-api-key': 'admin-key' };

async function setup(t: Parameters<typeof deferrer>[0]) {
  const defer = deferrer(t);
  const log = createMemoryLog({ pollIntervalMs: 5 });
  defer(() => log.close());
  const metrics = new Metrics();
  const running = await runTopology(
    topology('normalize', {}, (b) =>
      b
        .stream(topic('in'), { group: 'n' })
        .map('same', (v) => v)
        .to(topic('out'), { key: () => null }),
    ),
    { log, serde: new JsonSerde(), metrics },
  );
  defer(() => running.stop());
  const app = createHttpServer({ logger: silentLogger, metrics, apiKeys: ['admin-key'] });
  registerTopologyAdminRoutes(app, [running]);
  defer(() => app.close());
  return { app, running };
}

test('admin routes pause and resume a topology by name, with reasons that add up', async (t) => {
  const { app, running } = await setup(t);
  const list = await app.inject({ method: 'GET', url: '/admin/topologies', headers: KEY });
  assert.equal(list.statusCode, 200);
  assert.deepEqual(list.json(), { topologies: [{ name: 'normalize', paused: false, pausedFor: [] }] });

  const paused = await app.inject({ method: 'POST', url: '/admin/topologies/normalize/pause', headers: KEY });
  assert.equal(paused.statusCode, 200);
  assert.deepEqual(paused.json(), { name: 'normalize', paused: true, pausedFor: ['operator'] });
  assert.deepEqual(running.pausedFor, ['operator']);

  const backfill = await app.inject({ method: 'POST', url: '/admin/topologies/normalize/pause', headers: KEY, payload: { reason: 'backfill' } });
  assert.deepEqual(backfill.json<{ pausedFor: string[] }>().pausedFor, ['operator', 'backfill']);
  await app.inject({ method: 'POST', url: '/admin/topologies/normalize/resume', headers: KEY });
  assert.deepEqual(running.pausedFor, ['backfill'], 'resuming one reason leaves the other');
  const resumed = await app.inject({ method: 'POST', url: '/admin/topologies/normalize/resume', headers: KEY, payload: { reason: 'backfill' } });
  assert.deepEqual(resumed.json(), { name: 'normalize', paused: false, pausedFor: [] });
});

test('admin routes need the API key, name unknown topologies and refuse bad reasons', async (t) => {
  const { app, running } = await setup(t);
  assert.equal((await app.inject({ method: 'GET', url: '/admin/topologies' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'POST', url: '/admin/topologies/normalize/pause', headers: { 'x-api-key': 'wrong' } })).statusCode, 403);
  assert.deepEqual(running.pausedFor, [], 'a refused request changes nothing');
  const unknown = await app.inject({ method: 'POST', url: '/admin/topologies/nope/pause', headers: KEY });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json<{ error: { code: string } }>().error.code, 'TOPOLOGY_UNKNOWN');
  const bad = await app.inject({ method: 'POST', url: '/admin/topologies/normalize/pause', headers: KEY, payload: { reason: 'Not A Slug!' } });
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(running.pausedFor, []);
});

test('docs/openapi.yaml documents the admin routes behind the API key', () => {
  const doc = parse(readFileSync(new URL('../../../docs/openapi.yaml', import.meta.url), 'utf8')) as {
    paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown>; tags?: string[] }>>;
    components: { schemas: Record<string, { properties?: Record<string, { pattern?: string }> }> };
  };
  const ops = [
    ['/admin/topologies', 'get', ['200', '401', '403', '5XX']],
    ['/admin/topologies/{name}/pause', 'post', ['200', '400', '401', '403', '404', '5XX']],
    ['/admin/topologies/{name}/resume', 'post', ['200', '400', '401', '403', '404', '5XX']],
  ] as const;
  for (const [path, method, codes] of ops) {
    const op = doc.paths[path]?.[method];
    assert.ok(op, `${method.toUpperCase()} ${path} documented`);
    assert.deepEqual(op.security, [{ apiKey: [] }, { bearer: [] }]);
    assert.deepEqual(op.tags, ['admin']);
    assert.deepEqual(Object.keys(op.responses).sort(), [...codes].sort());
  }
  assert.equal(doc.components.schemas['PauseRequest']?.properties?.['reason']?.pattern, PAUSE_REASON_PATTERN);
});
