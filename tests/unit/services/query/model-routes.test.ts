import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { registerModelReadRoutes } from '../../../../services/query/model-routes.ts';
import { EVALUATION_REPORT_FORMAT, saveEvaluationReport } from '../../../../runtime/lake/model-reports.ts';
import { buildEvaluationReport } from '../../../../processors/metrics/evaluation-report.ts';
import { fsSqliteLake } from './query-harness.ts';

test('GET /v1/lake/models reads each report once: later calls (the dashboard polls) serve it by checksum', async (t) => {
  const fixture = await fsSqliteLake({ now: () => new Date() });
  t.after(() => fixture.cleanup());
  const { store, catalog } = fixture;
  const { record } = await catalog.models.upsert({ id: 'captioner-1', name: 'captioner', status: 'evaluated', metrics: { ciderD: 1 }, artifacts: [], params: {} });
  const report = buildEvaluationReport([{ imageId: 'a', references: ['a red circle'], hypothesis: 'a red circle' }], { listSize: 5 });
  await saveEvaluationReport({ objects: store, catalog }, record, {
    format: EVALUATION_REPORT_FORMAT,
    modelVersion: record.id,
    datasetId: 'ds-1',
    split: 'test',
    decoding: { strategy: 'greedy' },
    curves: [],
    gate: { status: 'promoted', reason: 'first version', metric: 'ciderD', margin: 0.01, champion: null },
    createdAt: new Date().toISOString(),
    ...report,
  });
  let reads = 0;
  const get = store.get.bind(store);
  store.get = (key, ...rest) => {
    if (key.includes('/evaluation-')) reads++;
    return get(key, ...rest);
  };
  const app = Fastify();
  registerModelReadRoutes(app, { lake: { store, catalog }, modelName: 'captioner' });
  t.after(() => app.close());
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ method: 'GET', url: '/v1/lake/models' });
    assert.equal(res.statusCode, 200);
    const body = res.json<{ versions: { version: string; gate: { status: string } | null; report: unknown }[] }>();
    assert.deepEqual(body.versions[0]!.gate?.status, 'promoted');
    assert.deepEqual(body.versions[0]!.report, { datasetId: 'ds-1', split: 'test' });
  }
  assert.equal(reads, 1, 'the report was read from the lake once');
  // The report route shares the cache.
  assert.equal((await app.inject({ method: 'GET', url: `/v1/lake/models/${record.id}/report` })).statusCode, 200);
  assert.equal(reads, 1);
});
