/**
 * A real Prometheus with the shipped config (deploy/prometheus/prometheus.yml and its alert rules;
 * the compose DNS discovery replaced by the test's replica address) scrapes a running captionflow
 * (the system of `captionflow run` on an embedded data directory), and a captionflow metric is
 * read by its labels through Prometheus' HTTP API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { openApp } from '../../../app/app.ts';
import { startSystem } from '../../../app/system.ts';
import { loadConfig } from '../../../runtime/config.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { startPrometheus } from '../../../deploy/services/prometheus.ts';
import { freePort } from '../../../deploy/services/processes.ts';

const PROM_DIR = fileURLToPath(new URL('../../../deploy/prometheus/', import.meta.url));

interface ScrapeConfig { job_name: string; scrape_interval?: string; dns_sd_configs?: unknown; static_configs?: { targets: string[] }[] }

/** The shipped config with the `captionflow-run` job pointed at `target` and a 1 s scrape. */
function shippedConfigFor(target: string): string {
  const doc = parse(readFileSync(`${PROM_DIR}prometheus.yml`, 'utf8')) as { rule_files: string[]; scrape_configs: ScrapeConfig[] };
  doc.rule_files = doc.rule_files.map((f) => join(PROM_DIR, f));
  const run = doc.scrape_configs.find((c) => c.job_name === 'captionflow-run');
  assert.ok(run?.dns_sd_configs, 'the shipped config discovers the run replicas');
  delete run.dns_sd_configs;
  run.static_configs = [{ targets: [target] }];
  run.scrape_interval = '1s';
  doc.scrape_configs = doc.scrape_configs.filter((c) => c.job_name === 'captionflow-run');
  return stringify(doc);
}

async function query(prometheus: string, promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { status: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
  assert.equal(body.status, 'success');
  return body.data.result;
}

test('Prometheus with the shipped config scrapes a running captionflow; a metric is read by its labels', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cf-scrape-'));
  const app = await openApp(loadConfig({ env: {}, overrides: { dataDir: dir, 'workers.size': 1, 'http.host': '127.0.0.1', 'http.port': await freePort() } }), { logger: silentLogger });
  const system = await startSystem(app, { serving: false, scheduler: false, apiKeys: ['scrape-test-key'] });
  t.after(async () => {
    await system.stop();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // One HTTP request the edge counts (topology "http"), so there is a series we caused.
  assert.equal((await fetch(`${system.url}/healthz`)).status, 200);
  const target = new URL(system.url).host;
  const prometheus = await startPrometheus({ configYaml: shippedConfigFor(target) });
  t.after(() => prometheus.stop());

  // The HTTP edge counts requests as topology "http", step = route, outcome = status code.
  const promql = `captionflow_step_records_total{job="captionflow-run", instance="${target}", topology="http", outcome="200"}`;
  let result: Awaited<ReturnType<typeof query>> = [];
  const deadline = Date.now() + 30_000;
  while (result.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    result = await query(prometheus.url, promql);
  }
  assert.ok(result.length >= 1, `Prometheus has ${promql}`);
  assert.ok(result.every((r) => Number(r.value[1]) >= 1 && r.metric.step !== undefined), JSON.stringify(result));

  // The target is up, and the scraped families include the engine's records counter and the lake gauges.
  const up = await query(prometheus.url, `up{job="captionflow-run", instance="${target}"}`);
  assert.equal(up[0]?.value[1], '1');
  const names = new Set((await query(prometheus.url, `{job="captionflow-run", __name__=~"captionflow_(step_records_total|lake_dataset_versions)"}`)).map((r) => r.metric.__name__));
  assert.ok(names.has('captionflow_lake_dataset_versions'), [...names].join(', '));
  // The shipped alert rules loaded.
  const rules = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as { data: { groups: { rules: unknown[] }[] } };
  assert.equal(rules.data.groups.flatMap((g) => g.rules).length, 7);
});
