/**
 * Prometheus started per test by deploy/services (`startPrometheus`) scrapes a tiny metrics
 * endpoint served by the test, and its HTTP API (`/api/v1/query`) returns the metric.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startPrometheus } from '../../../deploy/services/manager.ts';
import type { RunningServer } from '../../../deploy/services/manager.ts';
import { eventually } from './service-env.ts';

interface QueryResponse {
  status: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe('prometheus (per-test server)', { timeout: 120_000 }, () => {
  const metrics = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(
      [
        '# HELP captionflow_test_records_total Records seen by the test.',
        '# TYPE captionflow_test_records_total counter',
        'captionflow_test_records_total{topology="ingest",outcome="ok"} 42',
        '',
      ].join('\n'),
    );
  });
  let prometheus: RunningServer | undefined;

  before(async () => {
    await new Promise<void>((resolve) => metrics.listen(0, '127.0.0.1', resolve));
    const { port } = metrics.address() as AddressInfo;
    prometheus = await startPrometheus({
      configYaml: [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: captionflow-test',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${port}']`,
        '',
      ].join('\n'),
    });
  });

  after(async () => {
    await prometheus?.stop();
    await new Promise((resolve) => metrics.close(resolve));
  });

  test('a scraped counter is returned by /api/v1/query with its labels', async () => {
    const url = `${prometheus?.url}/api/v1/query?query=${encodeURIComponent('captionflow_test_records_total')}`;
    await eventually(
      async () => {
        const body = (await (await fetch(url)).json()) as QueryResponse;
        assert.equal(body.status, 'success');
        const [sample] = body.data.result;
        assert.ok(sample !== undefined, 'the metric has been scraped');
        assert.equal(sample.value[1], '42');
        assert.equal(sample.metric['topology'], 'ingest');
        assert.equal(sample.metric['outcome'], 'ok');
        assert.equal(sample.metric['job'], 'captionflow-test');
      },
      30_000,
      500,
    );
  });

  test('the scrape target is reported healthy', async () => {
    await eventually(
      async () => {
        const body = (await (await fetch(`${prometheus?.url}/api/v1/targets`)).json()) as {
          data: { activeTargets: { health: string; labels: Record<string, string> }[] };
        };
        const target = body.data.activeTargets.find((t) => t.labels['job'] === 'captionflow-test');
        assert.equal(target?.health, 'up');
      },
      30_000,
      500,
    );
  });
});
