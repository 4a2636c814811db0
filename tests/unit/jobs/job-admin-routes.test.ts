import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteOptions } from 'fastify';
import { FakeClock } from '../../../runtime/clock.ts';
import { createMemoryLog } from '../../../runtime/log/memory-log.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { createHttpServer } from '../../../runtime/http/server.ts';
import { Scheduler } from '../../../app/jobs/scheduler.ts';
import { JOB_ADMIN_SCHEMAS, registerJobAdminRoutes } from '../../../app/jobs/admin-routes.ts';
import { tempLake } from '../../topology/lake/harness.ts';
import { openApiDoc as doc, resolveRefs as resolve, type Json } from '../../fixtures/openapi-doc.ts';


test('job admin routes: list, run (API key), history with duration and log lines, 404 on unknown jobs; documented in docs/openapi.yaml', async () => {
  const lake = await tempLake();
  const log = createMemoryLog();
  const scheduler = new Scheduler({ catalog: lake.deps.catalog, producer: await log.producer(), serde: lake.serde, clock: new FakeClock(), logger: silentLogger, holder: 'test' });
  scheduler.register({ name: 'snapshot', description: 'd', cron: '0 * * * *', run: (ctx) => Promise.resolve({ got: ctx.params.name ?? 'none' }) });
  const http = createHttpServer({ logger: silentLogger, metrics: new Metrics(), apiKeys: ['k'] });
  const routes: RouteOptions[] = [];
  http.addHook('onRoute', (r) => void routes.push(r));
  registerJobAdminRoutes(http, scheduler);
  await http.ready();
  try {
    const auth = { 'x-api-key': 'k' };
    assert.equal((await http.inject({ method: 'GET', url: '/admin/jobs' })).statusCode, 401);
    const listed = (await http.inject({ method: 'GET', url: '/admin/jobs', headers: auth })).json<{ jobs: { name: string; schedule: string }[] }>();
    assert.deepEqual(listed.jobs.map((j) => [j.name, j.schedule]), [['snapshot', 'cron 0 * * * * (UTC)']]);
    const ran = await http.inject({ method: 'POST', url: '/admin/jobs/snapshot/run', headers: auth, payload: { params: { name: 'v2' } } });
    assert.equal(ran.statusCode, 200);
    assert.deepEqual(ran.json<{ status: string; outputs: Json }>().outputs, { got: 'v2' });
    const hist = (await http.inject({ method: 'GET', url: '/admin/jobs/snapshot/runs?limit=5', headers: auth })).json<{ runs: Json[] }>();
    assert.equal(hist.runs.length, 1);
    assert.equal(hist.runs[0]?.status, 'succeeded');
    assert.equal(hist.runs[0]?.durationMs, 0);
    assert.equal(hist.runs[0]?.trigger, 'manual');
    assert.ok((hist.runs[0]?.log as string[]).some((l) => l.includes('job succeeded')));
    assert.equal((await http.inject({ method: 'POST', url: '/admin/jobs/nope/run', headers: auth })).statusCode, 404);

    for (const r of routes.filter((x) => x.method !== 'HEAD')) {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const op = ((doc.paths as Json)[path] as Json | undefined)?.[String(r.method).toLowerCase()] as Json | undefined;
      assert.ok(op, `${String(r.method)} ${r.url} is documented`);
      assert.deepEqual(op.security, [{ apiKey: [] }, { bearer: [] }]);
      const codes = Object.keys((r.schema as Json).response as Json).map((c) => c.toLowerCase()).sort();
      assert.deepEqual(Object.keys(op.responses as Json).map((c) => c.toLowerCase()).sort(), codes, `${r.url}: status codes`);
      const ok = resolve(((op.responses as Json)['200'])) as Json;
      assert.deepEqual(((ok.content as Json)['application/json'] as Json).schema, resolve(((r.schema as Json).response as Json)[200]), `${r.url}: 200 body`);
    }
    for (const [name, schema] of Object.entries(JOB_ADMIN_SCHEMAS)) assert.deepEqual(resolve(((doc.components as Json).schemas as Json)[name]), resolve(schema), name);
  } finally {
    await http.close();
    await scheduler.stop();
    await log.close();
    await lake.close();
  }
});
