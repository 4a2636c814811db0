/** Per-API-key token buckets on the HTTP edge: 429 RATE_LIMITED with Retry-After, per key, counted. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHttpServer } from '../../../runtime/http/server.ts';
import { TokenBucketLimiter } from '../../../runtime/http/rate-limit.ts';
import { createLogger } from '../../../runtime/logger.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { loadConfig } from '../../../runtime/config.ts';

test('a token bucket lets a burst through, then refills at the sustained rate, and says when to come back', () => {
  let now = 0;
  const limiter = new TokenBucketLimiter({ burst: 3, perSecond: 2 }, () => now);
  assert.deepEqual(
    [1, 2, 3].map(() => limiter.take('a').ok),
    [true, true, true],
  );
  assert.deepEqual(limiter.take('a'), { ok: false, retryAfterSeconds: 1 });
  assert.equal(limiter.take('b').ok, true, 'each key has its own bucket');
  now = 500; // half a second: one token back
  assert.equal(limiter.take('a').ok, true);
  assert.equal(limiter.take('a').ok, false);
  now = 60_000; // refilled, never beyond the burst
  assert.deepEqual(
    [1, 2, 3, 4].map(() => limiter.take('a').ok),
    [true, true, true, false],
  );
  const slow = new TokenBucketLimiter({ burst: 1, perSecond: 0.1 }, () => now);
  slow.take('k');
  assert.deepEqual(slow.take('k'), { ok: false, retryAfterSeconds: 10 });
  assert.throws(() => new TokenBucketLimiter({ burst: 0, perSecond: 1 }), /burst/);
});

function edge(metrics: Metrics, now: () => number) {
  const app = createHttpServer({
    logger: createLogger({ level: 'silent' }),
    metrics,
    apiKeys: ['writer:write', 'reader:read', 'other:write'],
    rateLimit: { burst: 2, perSecond: 1 },
    now,
  });
  app.post('/things', { config: { auth: 'api-key' } }, () => ({ created: true }));
  app.post('/v1/captions', { config: { auth: 'api-key', role: 'read', rateLimited: true } }, () => ({
    results: [],
  }));
  app.get('/things', { config: { auth: 'api-key', role: 'read' } }, () => ({ items: [] }));
  return app;
}

test('mutating and caption routes answer 429 RATE_LIMITED with Retry-After past a key’s bucket; reads and other keys are not limited', async () => {
  let now = 0;
  const metrics = new Metrics();
  const app = edge(metrics, () => now);
  try {
    const post = (url: string, key: string) =>
      app.inject({ method: 'POST', url, headers: { 'x-api-key': key } });
    assert.equal((await post('/things', 'writer')).statusCode, 200);
    assert.equal((await post('/v1/captions', 'writer')).statusCode, 200);
    const refused = await post('/things', 'writer');
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.json<{ error: { code: string } }>().error.code, 'RATE_LIMITED');
    assert.equal((await post('/things', 'other')).statusCode, 200, 'another key has its own bucket');
    for (let i = 0; i < 5; i++)
      assert.equal(
        (await app.inject({ method: 'GET', url: '/things', headers: { 'x-api-key': 'writer' } })).statusCode,
        200,
        'reads are not limited',
      );
    // A read key may caption (captions change nothing), rate-limited too, but may not mutate.
    assert.equal((await post('/v1/captions', 'reader')).statusCode, 200);
    assert.equal((await post('/things', 'reader')).statusCode, 403);
    now = 1_000;
    assert.equal((await post('/things', 'writer')).statusCode, 200, 'a token is back after a second');
    assert.equal(
      await metrics.recordCount({ topology: 'http', step: 'rate-limit', outcome: 'RATE_LIMITED' }),
      1,
    );
    assert.equal(await metrics.recordCount({ topology: 'http', step: 'POST /things', outcome: '429' }), 1);
  } finally {
    await app.close();
  }
});

test('the limit is configured by CAPTIONFLOW_RATE_LIMIT_* (off by default)', () => {
  assert.equal(loadConfig({ env: {} }).http.rateLimit.enabled, false);
  const c = loadConfig({
    env: {
      CAPTIONFLOW_RATE_LIMIT_ENABLED: 'true',
      CAPTIONFLOW_RATE_LIMIT_BURST: '5',
      CAPTIONFLOW_RATE_LIMIT_PER_SECOND: '0.5',
    },
  });
  assert.deepEqual(c.http.rateLimit, { enabled: true, burst: 5, perSecond: 0.5 });
  assert.throws(() => loadConfig({ env: { CAPTIONFLOW_RATE_LIMIT_BURST: '0' } }), /http\.rateLimit\.burst/);
});
