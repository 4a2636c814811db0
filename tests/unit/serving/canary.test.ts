/** Canary: a configured share of the requests that name no model goes to the challenger alias, deterministically. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelHost } from '../../../services/serving/model-host.ts';
import type { ModelSource } from '../../../services/serving/model-source.ts';
import { ServingMetrics } from '../../../services/serving/serving-metrics.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { loadConfig } from '../../../runtime/config.ts';

function host(aliases: Record<string, string>, canary?: { alias: string; share: number }): ModelHost {
  const source: ModelSource = {
    versionOf: (alias) => Promise.resolve(aliases[alias] ?? null),
    load: (version) => Promise.resolve({ version, bundle: new Map() }),
  };
  return new ModelHost({
    source,
    warmUp: () => Promise.resolve(),
    logger: silentLogger,
    metrics: new ServingMetrics(new Metrics()),
    defaultAlias: 'champion',
    ...(canary === undefined ? {} : { canary }),
  });
}

async function versions(h: ModelHost, n: number, choice = {}): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await h.resolve(choice)).version);
  return out;
}

test('a 25% canary sends exactly every fourth request to the challenger; each answer names its version', async () => {
  const h = host({ champion: 'v1', challenger: 'v2' }, { alias: 'challenger', share: 0.25 });
  await h.refresh();
  const got = await versions(h, 100);
  assert.equal(got.filter((v) => v === 'v2').length, 25);
  assert.deepEqual(got.slice(0, 8), ['v1', 'v1', 'v1', 'v2', 'v1', 'v1', 'v1', 'v2']);
  // Any window holds the share to within one request.
  for (let i = 0; i + 10 <= got.length; i++) {
    const inWindow = got.slice(i, i + 10).filter((v) => v === 'v2').length;
    assert.ok(inWindow >= 2 && inWindow <= 3, `window at ${i}: ${inWindow}`);
  }
});

test('requests that name an alias or a version are not part of the canary; without a challenger the champion answers all', async () => {
  const h = host({ champion: 'v1', challenger: 'v2' }, { alias: 'challenger', share: 0.5 });
  await h.refresh();
  assert.deepEqual(await versions(h, 4, { alias: 'champion' }), ['v1', 'v1', 'v1', 'v1']);
  assert.deepEqual(await versions(h, 2, { version: 'v9' }), ['v9', 'v9']);
  const lonely = host({ champion: 'v1' }, { alias: 'challenger', share: 0.5 });
  await lonely.refresh();
  assert.deepEqual(await versions(lonely, 4), ['v1', 'v1', 'v1', 'v1']);
  assert.deepEqual(
    await versions(host({ champion: 'v1', challenger: 'v2' }), 3).catch(() => []),
    [],
  );
  assert.throws(() => host({}, { alias: 'challenger', share: 1.5 }), /share/);
});

test('CAPTIONFLOW_CANARY_SHARE and CAPTIONFLOW_CANARY_ALIAS configure it (off by default)', () => {
  assert.equal(loadConfig({ env: {} }).serving.canaryShare, 0);
  const c = loadConfig({ env: { CAPTIONFLOW_CANARY_SHARE: '0.1', CAPTIONFLOW_CANARY_ALIAS: 'candidate' } });
  assert.deepEqual([c.serving.canaryShare, c.serving.canaryAlias], [0.1, 'candidate']);
  assert.throws(() => loadConfig({ env: { CAPTIONFLOW_CANARY_SHARE: '2' } }), /serving\.canaryShare/);
});
