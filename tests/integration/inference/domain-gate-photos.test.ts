/**
 * The domain gate on a real trained captioner (the trainer's tiny export, gate fitted on its
 * train split and calibrated at p99 of its val split): held-out synthetic scenes (its test
 * split) against real photos from Debian's wallpaper packages. Small sizes, so the assertions
 * are "better than chance" ones; the default-size figures come from tests/bench/domain-gate.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OnnxCaptioner } from '../../../processors/inference/captioner.ts';
import { detectorFigures, mahalanobis, rocAuc } from '../../../processors/inference/domain-gate.ts';
import { parseModelBundle } from '../../../processors/inference/model-bundle.ts';
import captionTask, { closeAllModels } from '../../../processors/inference/caption-worker.ts';
import domainTask from '../../../processors/inference/domain-worker.ts';
import { datasetDomainGate } from '../../../app/models/domain-gate.ts';
import type { DatasetItem } from '../../../runtime/lake/datasets.ts';
import { parseDomainGate } from '../../../processors/inference/domain-gate.ts';
import { benchPhotos } from '../../bench/photos.ts';
import { gatedModel } from '../../fixtures/onnx/gated-model.ts';

test('the gate separates held-out synthetic scenes from real photos better than chance', { timeout: 10 * 60_000 }, async (t) => {
  const model = await gatedModel();
  const photos = (await benchPhotos({ min: 1, install: false })).photos.slice(0, 24).map((p) => new Uint8Array(p.bytes));
  const captioner = await OnnxCaptioner.create(parseModelBundle(model.bundle));
  try {
    const inScores = mahalanobis(model.gate, await captioner.embed(model.heldOut));
    const outScores = mahalanobis(model.gate, await captioner.embed(photos));
    const figures = detectorFigures(inScores, outScores, model.gate.threshold);
    const auc = rocAuc(inScores, outScores);
    t.diagnostic(`threshold ${model.gate.threshold.toFixed(2)}; ${JSON.stringify(figures)}; AUC ${auc.toFixed(3)}`);
    assert.ok(auc >= 0.75, `ROC AUC ${auc} (0.5 is chance)`);
    const baseRate = outScores.length / (inScores.length + outScores.length);
    assert.ok(figures.precision > baseRate, `precision ${figures.precision} above the base rate ${baseRate}`);
    assert.ok(figures.recall >= 0.5, `recall ${figures.recall}`);
  } finally {
    await captioner.close();
  }
});

test('captions and the domain worker carry the same verdict, computed from the encoder run the caption needs', { timeout: 10 * 60_000 }, async () => {
  const model = await gatedModel();
  const photo = new Uint8Array((await benchPhotos({ min: 1, install: false })).photos[0]!.bytes);
  const images = [model.heldOut[0]!, photo, new Uint8Array([1, 2, 3])];
  try {
    const captioned = await captionTask({ modelVersion: 'gated', bundle: model.bundle, images });
    const scored = await domainTask({ modelVersion: 'gated', images });
    assert.equal(scored.results.length, 3);
    for (const i of [0, 1]) {
      const c = captioned.results[i]!;
      const d = scored.results[i]!;
      assert.ok(c.ok && d.ok && d.domain !== null);
      assert.ok(c.caption.text.length > 0);
      assert.equal(c.caption.domain?.threshold, model.gate.threshold);
      assert.equal(c.caption.domain.inDomain, c.caption.domain.score <= model.gate.threshold);
      assert.ok(Math.abs(c.caption.domain.score - d.domain.score) < 1e-3, 'same score whether captioned or only scored');
    }
    assert.equal(captioned.results[2]!.ok, false, 'a bad image gets its own error');
    assert.equal(scored.results[2]!.ok, false);
    // A version without a gate answers no domain rather than guessing.
    const plain = new Map([...model.bundle].filter(([name]) => name !== 'domain-gate.json'));
    const ungated = await captionTask({ modelVersion: 'plain', bundle: plain, images: [model.heldOut[0]!] });
    const first = ungated.results[0]!;
    assert.ok(first.ok && first.caption.domain === undefined);
    const unscored = await domainTask({ modelVersion: 'plain', images: [model.heldOut[0]!] });
    assert.deepEqual(unscored.results, [{ ok: true, domain: null }]);
  } finally {
    await closeAllModels();
  }
});

test('a dataset version\'s gate is fitted on train, calibrated on val, and never reads the test split', { timeout: 10 * 60_000 }, async () => {
  const model = await gatedModel();
  const plain = new Map([...model.bundle].filter(([name]) => name !== 'domain-gate.json'));
  const photo = new Uint8Array((await benchPhotos({ min: 1, install: false })).photos[0]!.bytes);
  const bytesOf = new Map<string, Uint8Array>();
  const items = [...model.heldOut.entries()].map(([i, bytes]) => {
    const split = i < 8 ? 'train' : 'val';
    bytesOf.set(`k${i}`, bytes);
    return { imageId: `i${i}`, key: `k${i}`, split } as unknown as DatasetItem;
  });
  items.push({ imageId: 'test-photo', key: 'photo', split: 'test' } as unknown as DatasetItem);
  bytesOf.set('photo', photo);
  const read: string[] = [];
  const objects = {
    get: (key: string) => {
      read.push(key);
      return Promise.resolve(bytesOf.get(key)!);
    },
  };
  const { gate, bytes } = await datasetDomainGate(objects, plain, { id: 'ds-1', items });
  assert.ok(!read.includes('photo'), 'the test split stays untouched');
  assert.equal(gate.info.fitCount, 8);
  assert.equal(gate.info.calibrationCount, model.heldOut.length - 8);
  assert.match(gate.info.source ?? '', /ds-1/);
  const back = parseDomainGate(bytes);
  assert.equal(back.threshold, gate.threshold);
  assert.equal(back.dim, gate.dim);
});
