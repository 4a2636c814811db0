/**
 * The lake dashboard in a real browser: Debian's headless chromium (deploy/services/chromium.ts)
 * driven by playwright-core, against the running system (startSystem: topologies + HTTP edge) on
 * a temporary embedded data dir seeded through the ingest door. Checks that every count the page
 * shows equals the catalog's, opens an item's detail, checks the model panel against the registry
 * (versions, scores, aliases, promotion history, the champion's evaluation report) and saves
 * screenshots (desktop and phone width) in test-artifacts/ (gitignored).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { ensureChromium } from '../../deploy/services/chromium.ts';
import { openApp } from '../../app/app.ts';
import { startSystem } from '../../app/system.ts';
import { ingestDeps } from '../../app/pipeline-job.ts';
import { loadConfig } from '../../runtime/config.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { ingestImage } from '../../topologies/ingest.ts';
import { generateScene } from '../../processors/synthetic/index.ts';
import { makeImageCorpus } from '../fixtures/bad-input/make-corpus.ts';
import type { App } from '../../app/app.ts';
import { modelVersions } from '../../app/models/model-versions.ts';
import { SCENE_CONCEPTS } from '../../app/models/retrain.ts';
import { buildEvaluationReport } from '../../processors/metrics/index.ts';
import { EVALUATION_REPORT_FORMAT, saveEvaluationReport } from '../../runtime/lake/model-reports.ts';
import { freePort } from '../fixtures/child-process.ts';

const artifacts = new URL('../../test-artifacts/', import.meta.url).pathname;
const READ_KEY = 'dashboard-reader';

/**
 * A registry as the retrain loop leaves it: two versions, the champion moved from the first to
 * the second, and the second's evaluation report (25 scored test images, scene concepts).
 */
async function seedRegistry(
  app: App,
): Promise<{ champion: string; previous: string; worst: number; concepts: number }> {
  const name = app.config.models.name;
  const [previous, champion] = [`${name}-20261201-aaaa`, `${name}-20261202-bbbb`];
  await app.catalog.models.upsert({
    id: previous,
    name,
    status: 'evaluated',
    metrics: { ciderD: 0.912, bleu4: 0.2101 },
    artifacts: [],
    params: {},
  });
  const { record } = await app.catalog.models.upsert({
    id: champion,
    name,
    status: 'evaluated',
    metrics: { ciderD: 1.234, bleu4: 0.3142 },
    artifacts: [],
    params: {},
  });
  await app.catalog.models.setAlias(name, 'champion', previous, { expected: null });
  await app.catalog.models.setAlias(name, 'champion', champion, { expected: previous });
  const colours = ['red', 'blue', 'green', 'yellow', 'purple'];
  const shapes = ['circle', 'square', 'triangle'];
  const items = Array.from({ length: 25 }, (_, i) => ({
    imageId: `img-${String(i).padStart(2, '0')}`,
    references: [
      `a ${colours[i % 5]} ${shapes[i % 3]} on the left`,
      `one ${colours[i % 5]} ${shapes[i % 3]}`,
    ],
    hypothesis:
      i % 4 === 0
        ? `a ${colours[(i + 1) % 5]} ${shapes[(i + 1) % 3]}`
        : `a ${colours[i % 5]} ${shapes[i % 3]} on the left`,
  }));
  const report = buildEvaluationReport(items, { concepts: SCENE_CONCEPTS, listSize: 20 });
  await saveEvaluationReport({ objects: app.objects, catalog: app.catalog }, record, {
    format: EVALUATION_REPORT_FORMAT,
    modelVersion: champion,
    datasetId: 'ds-000000000000',
    split: 'test',
    decoding: { strategy: 'beam', beamSize: 3 },
    curves: [],
    gate: {
      status: 'promoted',
      reason: 'ciderD 1.2340 vs champion 0.9120 (margin 0.01)',
      metric: 'ciderD',
      margin: 0.01,
      champion: previous,
    },
    createdAt: new Date().toISOString(),
    ...report,
  });
  const concepts = Object.values(report.byConcept).reduce((n, values) => n + Object.keys(values).length, 0);
  return { champion, previous, worst: report.worst.length, concepts };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The counts the page shows, by `data-count` ("layer:gold" → 3). */
async function shownCounts(page: Page): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const cell of await page.locator('[data-count]').all())
    counts[(await cell.getAttribute('data-count')) ?? ''] = Number(await cell.textContent());
  return counts;
}

test(
  'the dashboard shows the catalog counts, a gold gallery and an item detail in headless chromium',
  { timeout: 180_000 },
  async () => {
    const executablePath = await ensureChromium();
    const dir = mkdtempSync(join(tmpdir(), 'cf-dashboard-'));
    mkdirSync(artifacts, { recursive: true });
    const app = await openApp(
      loadConfig({ env: {}, overrides: { dataDir: dir, 'workers.size': 1, 'http.port': await freePort() } }),
      { logger: silentLogger },
    );
    const system = await startSystem(app, {
      scheduler: false,
      serving: false,
      apiKeys: [`${READ_KEY}:read`],
    });
    const browser = await chromium.launch({
      executablePath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    try {
      // Seed through the ingest door: good scenes reach gold, one poison image is dead-lettered.
      const producer = await app.log.producer();
      const deps = ingestDeps(app, producer);
      const scenes = await Promise.all([21, 22, 23, 24, 25].map((s) => generateScene(s, { size: 96 })));
      for (const s of scenes)
        await ingestImage(deps, {
          bytes: s.image,
          source: 'bulk',
          producer: 'browser-test',
          externalId: s.id,
          captions: s.captions.map((text) => ({ text })),
        });
      const poison = (await makeImageCorpus()).filter(
        (c) => c.options === undefined && c.expectedCode !== null,
      );
      let poisoned = 0;
      for (const c of poison) {
        try {
          await ingestImage(deps, { bytes: c.bytes, source: 'upload', producer: 'browser-test' });
          poisoned++;
          break;
        } catch {
          // refused at the door: try the next one
        }
      }
      await producer.close();
      await until('images in gold and dead letters indexed', async () => {
        const layers = await app.catalog.images.countBy('layer');
        const letters = await app.catalog.deadLetters.countOpenByCode();
        const open = Object.values(letters).reduce((a, b) => a + b, 0);
        return (layers['gold'] ?? 0) === scenes.length && open >= poisoned;
      });

      const registry = await seedRegistry(app);

      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // No key yet: the page asks for one.
      await page.goto(`${system.url}/`);
      await page.waitForSelector('#status:has-text("API key")');
      // The key from `?key=`: kept in sessionStorage, removed from the address bar.
      await page.goto(`${system.url}/?key=${READ_KEY}&poll=1000`);
      await page.waitForSelector('body[data-loaded="true"]');
      assert.ok(!page.url().includes(READ_KEY), `the key is removed from the address: ${page.url()}`);
      // Every gold image in the gallery, its thumbnail fetched with the key and shown as a blob URL.
      await page
        .locator('#gallery img[src^="blob:"]')
        .nth(scenes.length - 1)
        .waitFor();
      assert.equal(await page.locator('#gallery img').count(), scenes.length);

      const expected: Record<string, number> = {};
      for (const [group, field] of [
        ['layer', 'layer'],
        ['status', 'status'],
        ['split', 'split'],
        ['source', 'source'],
      ] as const)
        for (const [name, n] of Object.entries(await app.catalog.images.countBy(field)))
          expected[`${group}:${name}`] = n;
      for (const [code, n] of Object.entries(await app.catalog.deadLetters.countOpenByCode()))
        expected[`dead-letter:${code}`] = n;
      expected['datasets'] = (await app.catalog.datasets.list({ limit: 1000 })).items.length;
      const shown = await shownCounts(page);
      assert.ok(Number.isNaN(shown['review']), 'a read key cannot see the review queue count');
      delete shown['review'];
      assert.deepEqual(shown, expected);
      assert.equal(shown['layer:gold'], scenes.length);
      if (poisoned > 0)
        assert.ok(
          Object.keys(shown).some((k) => k.startsWith('dead-letter:')),
          'dead letters by code',
        );
      assert.equal(await page.textContent('#review-queue'), 'needs a write key');
      await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });

      // The model panel equals the registry: every version with its aliases and scores, the
      // promotion history, the champion's evaluation report opened by itself.
      const versions = await modelVersions(app.catalog, app.config.models.name);
      assert.equal(await page.locator('#model-versions tr[data-model-version]').count(), versions.length);
      for (const v of versions) {
        const row = page.locator(`#model-versions tr[data-model-version="${v.version}"]`);
        assert.deepEqual(await row.locator('[data-field="aliases"] .alias').allTextContents(), [
          ...v.aliases,
        ]);
        assert.equal(await row.locator('[data-field="ciderD"]').textContent(), v.metrics.ciderD!.toFixed(3));
        assert.equal(await row.locator('[data-field="bleu4"]').textContent(), v.metrics.bleu4!.toFixed(4));
        assert.equal(await row.locator('[data-field="status"]').textContent(), v.status);
      }
      const alias = await app.catalog.models.getAlias(app.config.models.name, 'champion');
      assert.equal(alias?.previous, registry.previous);
      const move = page.locator('#model-history li[data-event="alias"]');
      assert.equal(await move.getAttribute('data-version'), registry.champion);
      assert.match(
        (await move.textContent()) ?? '',
        new RegExp(`champion: ${registry.previous} → ${registry.champion}`),
      );
      assert.equal(
        await page
          .locator(`#model-history li[data-event="promoted"][data-version="${registry.champion}"]`)
          .count(),
        1,
      );
      assert.equal(await page.locator('#model-history li[data-event="registered"]').count(), versions.length);
      await page.waitForSelector('#model-report:not([hidden])');
      assert.equal(await page.textContent('#report-version'), registry.champion);
      assert.equal(await page.locator('#report-worst > li').count(), registry.worst);
      assert.equal(registry.worst, 20);
      assert.equal(await page.locator('#report-concepts tr[data-concept]').count(), registry.concepts);
      assert.ok(registry.concepts > 0);
      assert.equal(
        await page.locator('#report-worst > li').first().locator('.refs li').count(),
        2,
        'references beside the generated caption',
      );
      await page.locator('#models').screenshot({ path: join(artifacts, 'dashboard-models.png') });

      // An item's detail: its captions and lineage, its model-input image.
      const first = await page.getAttribute('#gallery button', 'data-id');
      assert.ok(first !== null);
      await page.click('#gallery button');
      await page.waitForSelector('#detail:not([hidden])');
      assert.equal(await page.textContent('#detail-id'), first);
      const captions = await app.catalog.captions.byImage(first);
      assert.equal(await page.locator('#detail-captions li').count(), captions.length);
      assert.equal(await page.textContent('[data-field="layer"]'), 'gold');
      await page.locator('#detail-image[src^="blob:"]').waitFor();
      await page.screenshot({ path: join(artifacts, 'dashboard-detail.png'), fullPage: true });

      // Phone width: one column of cards, nothing wider than the screen.
      await page.setViewportSize({ width: 390, height: 844 });
      const overflow = Number(
        await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'),
      );
      assert.ok(overflow <= 0, `no horizontal scroll at phone width (overflow ${overflow}px)`);
      await page.screenshot({ path: join(artifacts, 'dashboard-phone.png'), fullPage: true });
      await page.locator('#models').screenshot({ path: join(artifacts, 'dashboard-models-phone.png') });

      // Live refresh: a new gold image appears without reloading.
      const more = await generateScene(26, { size: 96 });
      const p2 = await app.log.producer();
      await ingestImage(ingestDeps(app, p2), {
        bytes: more.image,
        source: 'bulk',
        producer: 'browser-test',
        externalId: more.id,
        captions: more.captions.map((text) => ({ text })),
      });
      await p2.close();
      await page
        .locator('[data-count="layer:gold"]', { hasText: new RegExp(`^${scenes.length + 1}$`) })
        .waitFor({ timeout: 60_000 });
      assert.deepEqual(errors, [], 'no errors in the page');
    } finally {
      await browser.close();
      await system.stop();
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
