import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createHttpServer } from '../../../../runtime/http/server.ts';
import { createLogger } from '../../../../runtime/logger.ts';
import { Metrics } from '../../../../runtime/metrics.ts';
import { registerDashboardRoutes } from '../../../../services/dashboard/routes.ts';

test('the dashboard is served from this origin only (CSP, no CDN) and a ?key= never reaches the log', async () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const app = createHttpServer({
    logger: createLogger({ level: 'info', destination }),
    metrics: new Metrics(),
    apiKeys: ['k:read'],
  });
  registerDashboardRoutes(app);
  try {
    const page = await app.inject({ method: 'GET', url: '/?key=very-secret-key' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    // Nothing from another origin: every src/href is a path on this server.
    for (const [, url] of page.body.matchAll(/(?:src|href)="([^"]+)"/g)) assert.match(url!, /^\/dashboard\//);
    for (const [path, type] of [
      ['/dashboard/dashboard.js', /^text\/javascript/],
      ['/dashboard/dashboard.css', /^text\/css/],
    ] as const) {
      const res = await app.inject({ method: 'GET', url: path });
      assert.equal(res.statusCode, 200, path);
      assert.match(String(res.headers['content-type']), type);
      assert.doesNotMatch(res.body, /https?:\/\//, `${path} loads nothing from elsewhere`);
    }
    assert.ok(!lines.join('').includes('very-secret-key'), 'the key is not logged');
    // The control: other requests are logged (so the check above is not vacuous).
    await app.inject({ method: 'GET', url: '/healthz?probe=visible' });
    assert.ok(lines.join('').includes('probe=visible'), 'requests are logged');
  } finally {
    await app.close();
  }
});
