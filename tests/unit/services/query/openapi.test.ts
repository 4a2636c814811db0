import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { queryHarness } from './query-harness.ts';
import { createHttpServer } from '../../../../runtime/http/server.ts';
import { createLogger } from '../../../../runtime/logger.ts';
import { Metrics } from '../../../../runtime/metrics.ts';
import { systemClock } from '../../../../runtime/clock.ts';
import { registerQueryRoutes } from '../../../../services/query/routes.ts';
import { registerModelReadRoutes } from '../../../../services/query/model-routes.ts';

type Json = Record<string, unknown>;
const doc = parse(readFileSync(new URL('../../../../docs/openapi.yaml', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, Json>>;
};

test('every Query Data Service route is in docs/openapi.yaml with its security and query parameters', async () => {
  const h = await queryHarness(1);
  const registered: string[] = [];
  const app = createHttpServer({
    logger: createLogger({ level: 'silent' }),
    metrics: new Metrics(),
    apiKeys: ['k'],
  });
  app.addHook('onRoute', (r) => {
    if (r.method !== 'HEAD') registered.push(r.url.replace(/:([A-Za-z]+)/g, '{$1}'));
  });
  try {
    registerQueryRoutes(app, { lake: h.lake, clock: systemClock, cacheDir: '/nonexistent' });
    registerModelReadRoutes(app, { lake: h.lake, modelName: 'captioner' });
    await app.ready();
  } finally {
    await app.close();
    await h.close();
  }
  assert.ok(new Set(registered).size >= 10, `routes read back: ${registered.join(', ')}`);
  const documented = Object.keys(doc.paths).filter((p) => p.startsWith('/v1/lake/'));
  for (const r of new Set(registered))
    assert.ok(documented.includes(r), `${r} is registered but not documented`);
  for (const p of documented) {
    for (const [method, op] of Object.entries(doc.paths[p]!)) {
      assert.deepEqual(op['security'], [{ apiKey: [] }, { bearer: [] }], `${method} ${p}: security`);
      assert.deepEqual(op['tags'], ['lake'], `${method} ${p}: tag`);
    }
  }
  const { ITEMS_QUERY } = await import('../../../../services/query/routes.ts');
  const params = (
    (doc.paths['/v1/lake/items']!['get']!['parameters'] ?? []) as { name: string; in: string }[]
  )
    .filter((x) => x.in === 'query')
    .map((x) => x.name);
  assert.deepEqual(params.sort(), Object.keys(ITEMS_QUERY.properties).sort());
  assert.deepEqual(documented.sort(), [
    '/v1/lake/changes',
    '/v1/lake/datasets',
    '/v1/lake/datasets/{id}',
    '/v1/lake/datasets/{id}/diff',
    '/v1/lake/datasets/{id}/export.parquet',
    '/v1/lake/datasets/{id}/manifest',
    '/v1/lake/datasets/{id}/webdataset',
    '/v1/lake/datasets/{id}/webdataset/{shard}',
    '/v1/lake/dead-letters',
    '/v1/lake/dead-letters/replay',
    '/v1/lake/dead-letters/{id}',
    '/v1/lake/items',
    '/v1/lake/items/{imageId}',
    '/v1/lake/items/{imageId}/image',
    '/v1/lake/models',
    '/v1/lake/models/{version}/report',
    '/v1/lake/sql',
    '/v1/lake/summary',
  ]);
});
