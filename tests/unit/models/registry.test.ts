import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelPromoted } from '../../../schemas/generated/types.ts';
import { createMemoryLog } from '../../../runtime/log/memory-log.ts';
import { systemClock } from '../../../runtime/clock.ts';
import { loadArtifacts, promoteIfBetter, promoteVersion, registerModel, rollbackAlias, rollbackChampion, type RegistryDeps } from '../../../runtime/lake/model-registry.ts';
import { tempLake } from '../../topology/lake/harness.ts';
import { pairedBootstrap } from '../../../processors/metrics/index.ts';

const files = (tag: string) => new Map([['encoder.onnx', Buffer.from(`enc-${tag}`)], ['decoder.onnx', Buffer.from(`dec-${tag}`)], ['model.json', Buffer.from('{}')]]);

test('register → gated promotion → rejection with reason → rollback, with model.promoted events', async () => {
  const lake = await tempLake();
  const log = createMemoryLog();
  const deps: RegistryDeps = { objects: lake.deps.objects, catalog: lake.deps.catalog, producer: await log.producer(), serde: lake.serde, clock: systemClock, bucket: 'lake' };
  try {
    const v1 = await registerModel(deps, { name: 'captioner', files: files('1'), format: 'captionflow-onnx', datasetId: 'ds-1' });
    assert.equal((await registerModel(deps, { name: 'captioner', files: files('1'), format: 'captionflow-onnx', datasetId: 'ds-1' })).id, v1.id, 'same files, same version');
    assert.equal((await lake.deps.catalog.models.byAlias('captioner', 'challenger'))?.id, v1.id);
    assert.equal((await loadArtifacts(lake.deps.objects, v1)).get('encoder.onnx')?.toString(), 'enc-1');

    const first = await promoteIfBetter(deps, 'captioner', { version: v1.id, metrics: { ciderD: 0.5 } }, null, { metric: 'ciderD', margin: 0.01 });
    assert.equal(first.promoted, true);
    const gate = { metric: 'ciderD', margin: 0.05 };
    const v2 = await registerModel(deps, { name: 'captioner', files: files('2'), format: 'captionflow-onnx', datasetId: 'ds-2', parentVersion: v1.id });
    const worse = await promoteIfBetter(deps, 'captioner', { version: v2.id, metrics: { ciderD: 0.52 } }, { version: v1.id, metrics: { ciderD: 0.5 } }, gate);
    assert.equal(worse.promoted, false);
    assert.match(worse.reason, /rejected: ciderD 0\.5200 vs champion .* 0\.5000 \(margin 0\.05\)/);
    assert.equal((await lake.deps.catalog.models.get(v2.id))?.status, 'rejected');
    assert.equal((await lake.deps.catalog.models.byAlias('captioner', 'champion'))?.id, v1.id, 'the champion is unchanged');

    const v3 = await registerModel(deps, { name: 'captioner', files: files('3'), format: 'captionflow-onnx', datasetId: 'ds-3', parentVersion: v1.id });
    assert.equal((await promoteIfBetter(deps, 'captioner', { version: v3.id, metrics: { ciderD: 0.7 } }, { version: v1.id, metrics: { ciderD: 0.5 } }, gate)).promoted, true);
    assert.equal((await lake.deps.catalog.models.byAlias('captioner', 'champion'))?.id, v3.id);

    const back = await rollbackChampion(deps, 'captioner');
    assert.equal(back.champion, v1.id);
    assert.equal((await lake.deps.catalog.models.byAlias('captioner', 'champion'))?.id, v1.id);

    const promoted = await Promise.all(log.readAll('model.promoted').map(async (r) => (await lake.serde.decode('model.promoted', r.value!)).value as ModelPromoted));
    assert.deepEqual(promoted.map((p) => p.modelVersion), [v1.id, v3.id, v1.id]);
    assert.equal(promoted[1]!.previousVersion, v1.id);
    assert.equal(log.readAll('model.registered').length, 4);
  } finally {
    await log.close();
    await lake.close();
  }
});

test('the paired gate: a mean gain above the margin but inside the noise is rejected, a clear one promoted, and the reason says why', async () => {
  const lake = await tempLake();
  const log = createMemoryLog();
  const deps: RegistryDeps = { objects: lake.deps.objects, catalog: lake.deps.catalog, producer: await log.producer(), serde: lake.serde, clock: systemClock, bucket: 'lake' };
  try {
    const v1 = await registerModel(deps, { name: 'captioner', files: files('1'), format: 'captionflow-onnx', datasetId: 'ds-1' });
    await promoteIfBetter(deps, 'captioner', { version: v1.id, metrics: { ciderD: 1.7 } }, null, { metric: 'ciderD', margin: 0.01 });
    const gate = { metric: 'ciderD', margin: 0.01 };
    // Per-image CIDEr-D of 100 images: the candidate wins 0.8 on half of them and loses 0.7 on
    // the other half — +0.05 on average, five times the margin, and pure noise.
    const champ = Array.from({ length: 100 }, (_, i) => 1.2 + (i % 10) / 10);
    const noisy = champ.map((c, i) => c + (i % 2 === 0 ? 0.8 : -0.7));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const v2 = await registerModel(deps, { name: 'captioner', files: files('2'), format: 'captionflow-onnx', datasetId: 'ds-1', parentVersion: v1.id });
    const paired = pairedBootstrap(noisy, champ, { seed: 1 });
    const noise = await promoteIfBetter(deps, 'captioner', { version: v2.id, metrics: { ciderD: mean(noisy) } }, { version: v1.id, metrics: { ciderD: mean(champ) } }, gate, paired);
    assert.ok(mean(noisy) >= mean(champ) + gate.margin, 'the unpaired gate would have promoted it');
    assert.equal(noise.promoted, false, noise.reason);
    assert.match(noise.reason, /^rejected: ciderD .* paired difference \+0\.0500, 95% CI \[-0\.\d+, \+0\.\d+\] over 100 images \(2000 resamples, seed 1\); lower bound not above the margin 0\.01$/);
    assert.deepEqual(noise.paired, paired);
    assert.equal((await lake.deps.catalog.models.byAlias('captioner', 'champion'))?.id, v1.id);

    const better = champ.map((c, i) => c + 0.25 + (i % 2 === 0 ? 0.05 : -0.05));
    const v3 = await registerModel(deps, { name: 'captioner', files: files('3'), format: 'captionflow-onnx', datasetId: 'ds-1', parentVersion: v1.id });
    const clear = await promoteIfBetter(deps, 'captioner', { version: v3.id, metrics: { ciderD: mean(better) } }, { version: v1.id, metrics: { ciderD: mean(champ) } }, gate, pairedBootstrap(better, champ, { seed: 1 }));
    assert.equal(clear.promoted, true, clear.reason);
    assert.match(clear.reason, /lower bound above the margin 0\.01$/);
    assert.equal((await lake.deps.catalog.models.byAlias('captioner', 'champion'))?.id, v3.id);
  } finally {
    await log.close();
    await lake.close();
  }
});

test('manual promotion: an alias moves without the gate, model.promoted names the alias, rollback per alias; unknown versions and no-op promotions emit nothing', async () => {
  const lake = await tempLake();
  const log = createMemoryLog();
  const deps: RegistryDeps = { objects: lake.deps.objects, catalog: lake.deps.catalog, producer: await log.producer(), serde: lake.serde, clock: systemClock, bucket: 'lake' };
  const models = lake.deps.catalog.models;
  const events = () => Promise.all(log.readAll('model.promoted').map(async (r) => (await lake.serde.decode('model.promoted', r.value!)).value as ModelPromoted));
  try {
    const v1 = await registerModel(deps, { name: 'captioner', files: files('1'), format: 'captionflow-onnx', datasetId: 'ds-1', metrics: { ciderD: 0.4 } });
    const v2 = await registerModel(deps, { name: 'captioner', files: files('2'), format: 'hf-vision-encoder-decoder', datasetId: 'ds-1', alias: 'candidate' });
    assert.equal((await models.byAlias('captioner', 'candidate'))?.id, v2.id, 'registered under the alias asked for');
    assert.equal((await models.byAlias('captioner', 'challenger'))?.id, v1.id, 'the challenger is untouched by it');

    assert.equal((await promoteVersion(deps, 'captioner', v1.id)).promoted, true);
    const swap = await promoteVersion(deps, 'captioner', v2.id, 'champion', 'imported model');
    assert.match(swap.reason, new RegExp(`imported model: champion ${v1.id} -> ${v2.id}`));
    assert.equal((await models.byAlias('captioner', 'champion'))?.id, v2.id);
    assert.equal((await promoteVersion(deps, 'captioner', v2.id)).promoted, false, 'already champion: nothing to do');
    await assert.rejects(promoteVersion(deps, 'captioner', 'captioner-nope'), { code: 'OBJECT_NOT_FOUND' });
    await assert.rejects(promoteVersion(deps, 'other-model', v1.id), { code: 'OBJECT_NOT_FOUND' }, 'a version of another model');

    assert.equal((await promoteVersion(deps, 'captioner', v2.id, 'challenger')).promoted, true);
    assert.equal((await rollbackAlias(deps, 'captioner', 'challenger')).champion, v1.id, 'the challenger goes back to v1');
    assert.equal((await rollbackAlias(deps, 'captioner')).champion, v1.id, 'the champion goes back to v1');

    const promoted = await events();
    assert.deepEqual(
      promoted.map((p) => [p.alias, p.modelVersion, p.previousVersion]),
      [
        ['champion', v1.id, null],
        ['champion', v2.id, v1.id],
        ['challenger', v2.id, v1.id],
        ['challenger', v1.id, v2.id],
        ['champion', v1.id, v2.id],
      ],
    );
    assert.deepEqual(promoted[0]!.metrics, { ciderD: 0.4 }, 'the version\'s recorded metrics travel with the event');
    assert.equal(new Set(promoted.map((p) => p.eventId)).size, promoted.length, 'distinct event ids');
    assert.ok(promoted.every((p) => p.artifacts.length === 3));
  } finally {
    await log.close();
    await lake.close();
  }
});
