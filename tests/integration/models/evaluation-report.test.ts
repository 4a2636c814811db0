import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../runtime/config.ts';
import { openApp } from '../../../app/app.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { lakeCaughtUp } from '../../fixtures/log-waits.ts';
import { ingestDeps } from '../../../app/pipeline-job.ts';
import { startTopologies } from '../../../app/pipeline.ts';
import { retrain, type RetrainOptions } from '../../../app/models/retrain.ts';
import { formatModelReport } from '../../../app/models/report-text.ts';
import { loadEvaluationReport } from '../../../runtime/lake/model-reports.ts';
import { evaluateCaptions } from '../../../processors/metrics/index.ts';
import { ingestImage } from '../../../topologies/ingest.ts';
import { generateScenes } from '../../../processors/synthetic/index.ts';


/**
 * A tiny model trained through the retrain loop gets its evaluation report stored in the lake
 * beside its artifacts, pointed to by its model record, complete (overall, by length, by
 * concept, confusion, samples, worst 20, learning curves, gate) and scored exactly as the
 * metrics module scores the same captions; a second candidate goes through the paired gate.
 */
test('every trained version stores a complete evaluation report; the second goes through the paired gate', { timeout: 30 * 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cf-report-'));
  const app = await openApp(loadConfig({ env: {}, overrides: { dataDir: dir, 'workers.size': 1 } }), { logger: silentLogger });
  const running = await startTopologies(app);
  const producer = await app.log.producer();
  const deps = ingestDeps(app, producer);
  try {
    for await (const s of generateScenes({ seed: 31, count: 260, size: 64 })) {
      await ingestImage(deps, { bytes: s.image, source: 'bulk', producer: 'test', externalId: s.id, captions: s.captions.map((text) => ({ text })) });
    }
    await lakeCaughtUp(app.log);
    const trainDeps = { objects: app.objects, catalog: app.catalog, producer, serde: app.serde, clock: app.clock, bucket: app.lake.bucket, logger: silentLogger, workDir: join(dir, 'training') };
    const options: RetrainOptions = { modelName: 'captioner', datasetName: 'report', config: 'tiny', epochs: 2, minNewItems: 0, gate: { metric: 'ciderD', margin: 0.01 }, seed: 1 };
    const first = await retrain(trainDeps, options);
    assert.equal(first.status, 'promoted', first.reason);
    const model = (await app.catalog.models.get(first.candidate!))!;
    const pointer = model.params.evaluationReport as { key: string } | undefined;
    assert.ok(pointer !== undefined, 'the model record points to its report');
    assert.equal(pointer.key, first.report?.key);
    assert.ok(pointer.key.startsWith(`models/captioner/${model.id}/`), `next to the artifacts: ${pointer.key}`);
    const report = (await loadEvaluationReport(app.objects, model))!;

    const evaluation = first.candidateEval!;
    const n = evaluation.n;
    assert.ok(n >= 15, `test split of ${n}`);
    const gts = Object.fromEntries(evaluation.samples.map((s) => [s.imageId, s.references]));
    const res = Object.fromEntries(evaluation.samples.map((s) => [s.imageId, s.hypothesis]));
    assert.deepEqual(report.overall, evaluateCaptions(gts, res), 'overall = the metrics module on the same captions');
    for (const [k, v] of Object.entries(report.overall)) assert.equal(model.metrics[k], v, `model record ${k}`);
    assert.equal(report.n, n);
    assert.equal(report.modelVersion, model.id);
    assert.equal(report.datasetId, first.datasetId);
    assert.equal(report.split, 'test');
    assert.equal(Object.values(report.byLength).reduce((a, s) => a + s.n, 0), n, 'every image in one length bucket');
    assert.deepEqual(Object.keys(report.byConcept).sort(), ['colour', 'count', 'position', 'shape']);
    assert.ok(Object.keys(report.confusion).length > 0);
    assert.equal(report.samples.length, Math.min(20, n));
    assert.equal(report.worst.length, Math.min(20, n));
    assert.equal(Object.keys(report.perImageCiderD).length, n);
    assert.deepEqual(report.curves.map((p) => p.epoch), [1, 2]);
    for (const p of report.curves) for (const k of ['trainLoss', 'valLoss', 'valBleu4', 'valCiderD']) assert.equal(typeof p[k], 'number', `curve ${k}`);
    assert.equal(report.gate?.status, 'promoted');
    assert.match(report.gate.reason, /first model/);

    const text = formatModelReport(model, report);
    for (const section of ['overall', 'by mean reference length', 'by colour', 'by count', 'by position', 'by shape', 'colour confusion', 'learning curves', 'samples (', 'worst ']) {
      assert.ok(text.includes(section), `models show prints ${section}`);
    }

    const second = await retrain(trainDeps, { ...options, seed: 2, force: true });
    t.diagnostic(`second: ${second.reason}`);
    assert.ok(second.paired !== undefined, 'compared image by image');
    assert.equal(second.paired.n, n);
    assert.match(second.reason, /paired difference [+-]\d\.\d{4}, 95% CI \[[+-]\d+\.\d{4}, [+-]\d+\.\d{4}\] over \d+ images/);
    const secondReport = (await loadEvaluationReport(app.objects, (await app.catalog.models.get(second.candidate!))!))!;
    assert.equal(secondReport.gate?.status, second.status);
    assert.deepEqual(secondReport.gate.paired, second.paired);
    assert.equal(second.status === 'promoted', second.paired.low > 0.01);
  } finally {
    await producer.close();
    await Promise.all(running.map((r) => r.stop({ deadlineMs: 10_000 })));
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
