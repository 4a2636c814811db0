/**
 * deploy/grafana: the provisioned datasource and dashboards provider agree with the dashboards
 * and with the compose mounts; every panel query (and template variable) names only metrics
 * captionflow exports, with labels they carry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { exportedMetrics, metricSelectors } from './exported-metrics.ts';

const DIR = fileURLToPath(new URL('../../../deploy/grafana/', import.meta.url));

interface Target { refId: string; expr: string; datasource?: { uid: string } }
interface Panel { id: number; type: string; title: string; datasource?: { uid: string }; targets?: Target[]; panels?: Panel[] }
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; query: { query: string } | string }[] };
}

const dashboards = readdirSync(`${DIR}dashboards`)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, dashboard: JSON.parse(readFileSync(`${DIR}dashboards/${f}`, 'utf8')) as Dashboard }));

function panelsOf(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
}

test('the provisioning names one Prometheus datasource and the dashboards folder compose mounts', () => {
  const ds = parse(readFileSync(`${DIR}provisioning/datasources/prometheus.yml`, 'utf8')) as { datasources: { uid: string; type: string; url: string }[] };
  assert.deepEqual(ds.datasources.map((d) => [d.uid, d.type, d.url]), [['prometheus', 'prometheus', 'http://prometheus:9090']]);
  const providers = parse(readFileSync(`${DIR}provisioning/dashboards/captionflow.yml`, 'utf8')) as { providers: { type: string; options: { path: string } }[] };
  assert.equal(providers.providers[0]!.type, 'file');
  const compose = readFileSync(fileURLToPath(new URL('../../../deploy/compose/compose.yaml', import.meta.url)), 'utf8');
  assert.ok(compose.includes(`../grafana/dashboards:${providers.providers[0]!.options.path}`), 'compose mounts the dashboards where the provider reads them');
  assert.ok(compose.includes('../grafana/provisioning:/etc/grafana/provisioning'), 'compose mounts the provisioning');
});

test('dashboards: unique uids and panel ids, every panel queries the provisioned datasource', () => {
  assert.ok(dashboards.length >= 2);
  assert.equal(new Set(dashboards.map((d) => d.dashboard.uid)).size, dashboards.length);
  for (const { file, dashboard } of dashboards) {
    const all = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    assert.equal(new Set(all.map((p) => p.id)).size, all.length, `${file}: panel ids are unique`);
    for (const p of panelsOf(dashboard)) {
      assert.ok((p.targets ?? []).length > 0, `${file}: "${p.title}" has a query`);
      assert.equal(p.datasource?.uid, 'prometheus', `${file}: "${p.title}" datasource`);
      for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, 'prometheus', `${file}: "${p.title}" ${t.refId} datasource`);
    }
  }
});

test('every panel query and template variable names metrics and labels captionflow exports', async () => {
  const exported = await exportedMetrics();
  let queries = 0;
  const check = (where: string, metric: string, labels: readonly string[]): void => {
    const known = exported.get(metric);
    assert.ok(known, `${where}: ${metric} is exported by captionflow`);
    for (const l of labels) assert.ok(known.has(l), `${where}: ${metric} has label ${l}`);
  };
  for (const { file, dashboard } of dashboards) {
    for (const p of panelsOf(dashboard)) {
      for (const t of p.targets ?? []) {
        const selectors = metricSelectors(t.expr);
        assert.ok(selectors.length > 0, `${file}: "${p.title}" ${t.refId} names a metric`);
        for (const s of selectors) check(`${file}: "${p.title}" ${t.refId}`, s.metric, s.labels);
        queries += 1;
      }
    }
    for (const v of dashboard.templating.list) {
      const query = typeof v.query === 'string' ? v.query : v.query.query;
      const m = /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_]+)\s*\)$/.exec(query);
      assert.ok(m, `${file}: variable ${v.name} is label_values(metric, label)`);
      check(`${file}: variable ${v.name}`, m[1]!, [m[2]!]);
    }
  }
  assert.ok(queries >= 30, `${queries} queries checked`);
});

test('the check catches a metric or a label captionflow does not export', async () => {
  const exported = await exportedMetrics();
  const [typo] = metricSelectors('sum(rate(captionflow_step_record_total[5m]))');
  assert.equal(exported.has(typo!.metric), false);
  const [badLabel] = metricSelectors('max by (layer) (captionflow_lake_items_by_status)');
  assert.equal(exported.get(badLabel!.metric)!.has('layer'), false);
});
