import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteOptions } from 'fastify';
import type { ModelPromoted } from '../../../schemas/generated/types.ts';
import { systemClock } from '../../../runtime/clock.ts';
import { createMemoryLog } from '../../../runtime/log/memory-log.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { createHttpServer } from '../../../runtime/http/server.ts';
import { registerModel, type RegistryDeps } from '../../../runtime/lake/model-registry.ts';
import { MODEL_ADMIN_SCHEMAS, registerModelAdminRoutes } from '../../../app/models/admin-routes.ts';
import { tempLake } from '../../topology/lake/harness.ts';
import { openApiDoc as doc, resolveRefs as resolve, type Json } from '../../fixtures/openapi-doc.ts';


const files = (tag: string) => new Map([['encoder_model.onnx', Buffer.from(`enc-${tag}`)], ['decoder_model.onnx', Buffer.from(`dec-${tag}`)], ['tokenizer.json', Buffer.from('{}')]]);

test('model admin routes: list (read key), promote and roll back (admin key) with model.promoted events, 404/409/403 answers; documented in docs/openapi.yaml', async () => {
  const lake = await tempLake();
  const log = createMemoryLog();
  const registry: RegistryDeps = { objects: lake.deps.objects, catalog: lake.deps.catalog, producer: await log.producer(), serde: lake.serde, clock: systemClock, bucket: 'lake' };
  const http = createHttpServer({ logger: silentLogger, metrics: new Metrics(), apiKeys: ['boss', 'viewer:read'] });
  const routes: RouteOptions[] = [];
  http.addHook('onRoute', (r) => void routes.push(r));
  registerModelAdminRoutes(http, { registry, modelName: 'captioner' });
  await http.ready();
  try {
    const v1 = await registerModel(registry, { name: 'captioner', files: files('1'), format: 'captionflow-onnx', datasetId: 'ds-1', metrics: { ciderD: 0.5 } });
    const v2 = await registerModel(registry, { name: 'captioner', files: files('2'), format: 'hf-vision-encoder-decoder', datasetId: 'ds-1', params: { source: 'imported' }, alias: 'candidate' });
    const admin = { 'x-api-key': 'boss' };
    const viewer = { 'x-api-key': 'viewer' };

    assert.equal((await http.inject({ method: 'GET', url: '/admin/models' })).statusCode, 401);
    const listed = (await http.inject({ method: 'GET', url: '/admin/models', headers: viewer })).json<{ model: string; versions: { version: string; aliases: string[]; source: string }[] }>();
    assert.equal(listed.model, 'captioner');
    assert.deepEqual(
      Object.fromEntries(listed.versions.map((v) => [v.version, [v.aliases, v.source]])),
      { [v1.id]: [['challenger'], 'trained'], [v2.id]: [['candidate'], 'imported'] },
    );
    assert.equal((await http.inject({ method: 'POST', url: `/admin/models/${v1.id}/promote`, headers: viewer })).statusCode, 403, 'promotion needs the admin role');

    const first = await http.inject({ method: 'POST', url: `/admin/models/${v1.id}/promote`, headers: admin });
    assert.equal(first.statusCode, 200, first.body);
    assert.deepEqual(first.json<Json>(), { changed: true, alias: 'champion', version: v1.id, reason: `manual promotion (admin API): champion (none) -> ${v1.id}` });
    const byAlias = await http.inject({ method: 'POST', url: '/admin/models/candidate/promote', headers: admin, payload: { reason: 'imported from the hub' } });
    assert.equal(byAlias.json<{ version: string }>().version, v2.id, 'an alias names its version');
    assert.equal((await http.inject({ method: 'POST', url: '/admin/models/candidate/promote', headers: admin })).json<{ changed: boolean }>().changed, false, 'already champion');
    assert.equal((await http.inject({ method: 'POST', url: `/admin/models/${v2.id}/promote`, headers: admin, payload: { alias: 'challenger' } })).json<{ alias: string }>().alias, 'challenger');

    const back = await http.inject({ method: 'POST', url: '/admin/models/rollback', headers: admin });
    assert.equal(back.statusCode, 200, back.body);
    assert.equal(back.json<{ version: string }>().version, v1.id);
    assert.equal((await lake.deps.catalog.models.byAlias('captioner', 'champion'))?.id, v1.id);

    const unknown = await http.inject({ method: 'POST', url: '/admin/models/captioner-nope/promote', headers: admin });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json<{ error: { code: string } }>().error.code, 'OBJECT_NOT_FOUND');
    assert.equal((await http.inject({ method: 'POST', url: '/admin/models/rollback', headers: admin, payload: { alias: 'nope' } })).statusCode, 400);
    await lake.deps.catalog.models.upsert({ id: v2.id, name: 'captioner', status: 'archived' });
    const archived = await http.inject({ method: 'POST', url: '/admin/models/candidate/promote', headers: admin });
    assert.equal(archived.statusCode, 409);
    assert.equal(archived.json<{ error: { code: string } }>().error.code, 'MODEL_INVALID');

    const promoted = await Promise.all(log.readAll('model.promoted').map(async (r) => (await lake.serde.decode('model.promoted', r.value!)).value as ModelPromoted));
    assert.deepEqual(promoted.map((p) => [p.alias, p.modelVersion]), [['champion', v1.id], ['champion', v2.id], ['challenger', v2.id], ['champion', v1.id]]);
    assert.equal(promoted[1]!.reason, `imported from the hub: champion ${v1.id} -> ${v2.id}`);

    for (const r of routes.filter((x) => x.method !== 'HEAD')) {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const op = ((doc.paths as Json)[path] as Json | undefined)?.[String(r.method).toLowerCase()] as Json | undefined;
      assert.ok(op, `${String(r.method)} ${r.url} is documented`);
      assert.deepEqual(op.security, [{ apiKey: [] }, { bearer: [] }]);
      const codes = Object.keys((r.schema as Json).response as Json).map((c) => c.toLowerCase()).sort();
      assert.deepEqual(Object.keys(op.responses as Json).map((c) => c.toLowerCase()).sort(), codes, `${r.url}: status codes`);
      const ok = resolve((op.responses as Json)['200']) as Json;
      assert.deepEqual(((ok.content as Json)['application/json'] as Json).schema, resolve(((r.schema as Json).response as Json)[200]), `${r.url}: 200 body`);
      const body = (r.schema as Json).body;
      if (body !== undefined) assert.deepEqual((((resolve(op.requestBody) as Json).content as Json)['application/json'] as Json).schema, resolve(body), `${r.url}: request body`);
    }
    for (const [name, schema] of Object.entries(MODEL_ADMIN_SCHEMAS)) assert.deepEqual(resolve(((doc.components as Json).schemas as Json)[name]), resolve(schema), name);
  } finally {
    await http.close();
    await log.close();
    await lake.close();
  }
});
