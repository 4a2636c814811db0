/**
 * deploy/prometheus: `promtool check config`, `check rules` and the `promtool test rules` unit
 * tests of the alert rules; and every metric the rules name is one captionflow exports, with
 * labels it carries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { exportedMetrics, metricSelectors } from './exported-metrics.ts';

const DIR = fileURLToPath(new URL('../../../deploy/prometheus/', import.meta.url));
const PROMTOOL = '/usr/bin/promtool';
const skip = existsSync(PROMTOOL) ? false : 'promtool missing (Debian package prometheus: deploy/services/prometheus.ts ensurePrometheus installs it)';

function promtool(...args: string[]): string {
  return execFileSync(PROMTOOL, args, { cwd: DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const ruleFiles = readdirSync(`${DIR}rules`).filter((f) => f.endsWith('.yml')).map((f) => `rules/${f}`);
const testFiles = readdirSync(`${DIR}tests`).filter((f) => f.endsWith('.test.yml')).map((f) => `tests/${f}`);

test('promtool accepts the scrape config and the rules', { skip }, () => {
  assert.match(promtool('check', 'config', 'prometheus.yml'), /SUCCESS/);
  assert.match(promtool('check', 'rules', ...ruleFiles), /SUCCESS: 7 rules found/);
});

test('the alert rules pass their promtool unit tests', { skip }, () => {
  assert.ok(testFiles.length > 0);
  assert.match(promtool('test', 'rules', ...testFiles), /SUCCESS/);
});

test('every alert rule has a promtool test that fires it', () => {
  const alerts = ruleFiles.flatMap((f) => (parse(readFileSync(`${DIR}${f}`, 'utf8')) as { groups: { rules: { alert: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.alert)));
  const tested = new Set(
    testFiles.flatMap((f) =>
      (parse(readFileSync(`${DIR}${f}`, 'utf8')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    ),
  );
  assert.deepEqual(alerts.filter((a) => !tested.has(a)), []);
});

test('every metric and label the rules select is one captionflow exports', async () => {
  const exported = await exportedMetrics();
  for (const f of ruleFiles) {
    const doc = parse(readFileSync(`${DIR}${f}`, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    for (const rule of doc.groups.flatMap((g) => g.rules)) {
      const selectors = metricSelectors(rule.expr);
      assert.ok(selectors.length > 0, `${rule.alert} names a metric`);
      for (const s of selectors) {
        const labels = exported.get(s.metric);
        assert.ok(labels, `${rule.alert}: ${s.metric} is exported by captionflow`);
        for (const l of s.labels) assert.ok(labels.has(l), `${rule.alert}: ${s.metric} has label ${l}`);
      }
    }
  }
});
