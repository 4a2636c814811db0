/**
 * Caption-less images that arrive before any model exists are parked (catalog awaiting_model), not
 * retried into a dead letter; `model.promoted` resumes them through labeling (label-backlog).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import type { CaptionGenerated, ImageNormalized, ModelPromoted } from '../../../schemas/generated/types.ts';
import { TopologyTestDriver } from '../../../runtime/engine/test-driver.ts';
import { InlinePool } from '../../../runtime/workers/piscina-pool.ts';
import { systemClock } from '../../../runtime/clock.ts';
import { deriveId } from '../../../runtime/ids.ts';
import { normalizeTopology } from '../../../topologies/normalize.ts';
import { labelBacklogTopology, labelTopology, type LabelDeps } from '../../../topologies/label.ts';
import { ingestCapture } from '../../../topologies/ingest.ts';
import type { Teacher } from '../../../topologies/teacher.ts';
import { readBundleDir, tinyModels } from '../../fixtures/onnx/tiny-models.ts';
import { tempLake } from './harness.ts';

type Lake = Awaited<ReturnType<typeof tempLake>>;

/** Two caption-less captures (red, blue) through normalize: their image.normalized values. */
async function normalizedCaptures(lake: Lake, pool: InlinePool): Promise<ImageNormalized[]> {
  const normalize = new TopologyTestDriver(normalizeTopology, { deps: lake.deps, serde: lake.serde, pool });
  try {
    await normalize.start();
    const deps = {
      objects: lake.deps.objects,
      bucket: 'lake',
      producer: await normalize.log.producer(),
      serde: lake.serde,
      clock: systemClock,
      maxBytes: 1e7,
    };
    for (const [i, colour] of ['#e02020', '#2020e0'].entries()) {
      const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: colour } })
        .png()
        .toBuffer();
      await ingestCapture(deps, {
        bytes: png,
        clientCaptureId: `c${i}`,
        deviceId: 'phone-1',
        capturedAt: Date.UTC(2026, 10, 1),
        producer: 'app',
      });
    }
    await normalize.settle();
    return (await normalize.read<ImageNormalized>('image.normalized')).map((r) => r.value);
  } finally {
    await normalize.close();
  }
}

function promoted(version: string): ModelPromoted {
  return {
    eventId: randomUUID(),
    modelName: 'captioner',
    modelVersion: version,
    alias: 'champion',
    previousVersion: null,
    metrics: {},
    previousMetrics: {},
    artifacts: [],
    datasetVersion: 'ds-1',
    reason: null,
    promotedAt: Date.UTC(2026, 11, 3),
  };
}

async function send(
  driver: TopologyTestDriver<LabelDeps>,
  lake: Lake,
  topic: string,
  values: readonly { key: string; value: unknown }[],
): Promise<void> {
  await driver.start();
  const producer = await driver.log.producer();
  for (const v of values)
    await producer.send([{ topic, key: v.key, value: await lake.serde.encode(topic, v.value) }]);
}

test('no model yet: caption-less images are parked (awaiting_model, no dead letter), and model.promoted labels them once', async () => {
  const lake = await tempLake();
  const pool = new InlinePool();
  const models = await tinyModels();
  const bundle = new Map(Object.entries(await readBundleDir(models.captionflow)));
  let teacher: Teacher | null = null;
  const deps: LabelDeps = { ...lake.deps, teacher: () => Promise.resolve(teacher) };
  const label = new TopologyTestDriver(labelTopology, { deps, serde: lake.serde, pool });
  const backlog = new TopologyTestDriver(labelBacklogTopology, { deps, serde: lake.serde, pool });
  try {
    const normalized = await normalizedCaptures(lake, pool);
    await send(
      label,
      lake,
      'image.normalized',
      normalized.map((n) => ({ key: n.imageId, value: n })),
    );
    await label.settle();
    assert.deepEqual(await label.deadLetters(), [], 'no model is not an error');
    assert.equal((await label.read('caption.generated')).length, 0);
    assert.equal(await lake.deps.catalog.awaitingModel.countAwaiting(), 2);
    for (const n of normalized)
      assert.equal((await lake.deps.catalog.awaitingModel.get(n.imageId))?.status, 'awaiting_model');
    assert.equal(
      await label.metrics.recordCount({ topology: 'label', step: 'has-teacher', outcome: 'dropped' }),
      2,
    );

    // A promotion with no teacher behind it (another model name) resumes nothing.
    await send(backlog, lake, 'model.promoted', [{ key: 'other', value: promoted('other-1') }]);
    await backlog.settle();
    assert.equal(await lake.deps.catalog.awaitingModel.countAwaiting(), 2);

    teacher = { version: 'tiny-teacher-1', bundle };
    await send(backlog, lake, 'model.promoted', [{ key: 'captioner', value: promoted('tiny-teacher-1') }]);
    await backlog.settle();
    assert.deepEqual(await backlog.deadLetters(), []);
    const generated = (await backlog.read<CaptionGenerated>('caption.generated')).map((r) => r.value);
    assert.deepEqual(generated.map((g) => g.imageId).sort(), normalized.map((n) => n.imageId).sort());
    assert.ok(generated.every((g) => g.origin === 'machine' && g.modelVersion === 'tiny-teacher-1'));
    assert.equal(generated.find((g) => g.imageId === normalized[0]!.imageId)?.text, 'a red circle');
    assert.equal(await lake.deps.catalog.awaitingModel.countAwaiting(), 0);
    const entry = await lake.deps.catalog.awaitingModel.get(normalized[0]!.imageId);
    assert.equal(entry?.status, 'labeled');
    assert.equal(entry?.resolution?.modelVersion, 'tiny-teacher-1');
    const captions = await lake.deps.catalog.captions.byImage(normalized[0]!.imageId);
    assert.deepEqual(
      captions.map((c) => [c.text, c.origin, c.modelVersion]),
      [['a red circle', 'machine', 'tiny-teacher-1']],
    );

    // A later promotion finds nothing parked: no image is labeled twice.
    teacher = { version: 'tiny-teacher-2', bundle };
    await send(backlog, lake, 'model.promoted', [{ key: 'captioner', value: promoted('tiny-teacher-2') }]);
    await backlog.settle();
    assert.equal((await backlog.read('caption.generated')).length, 2);
  } finally {
    await label.close();
    await backlog.close();
    await lake.close();
  }
});

test('a crash before the promotion record is committed: its replay finds the images it labeled before the crash and emits their events (same ids), nothing lost', async () => {
  const lake = await tempLake();
  const pool = new InlinePool();
  const models = await tinyModels();
  const bundle = new Map(Object.entries(await readBundleDir(models.captionflow)));
  const teacher: Teacher = { version: 'tiny-teacher-1', bundle };
  const repo = lake.deps.catalog.awaitingModel;
  try {
    const normalized = await normalizedCaptures(lake, pool);
    for (const n of normalized) await repo.park(n.imageId, n as never);
    // The first run labeled the red image (writes done, marked labeled by this record) and crashed before producing and committing.
    await repo.resolve(normalized[0]!.imageId, {
      modelVersion: 'tiny-teacher-1',
      resumedBy: 'model.promoted/0/0',
    });
    assert.deepEqual(
      (await repo.toResume('model.promoted/0/0')).map((e) => e.imageId).sort(),
      normalized.map((n) => n.imageId).sort(),
      'the replay finds both',
    );
    assert.deepEqual(
      (await repo.toResume('model.promoted/0/1')).map((e) => e.imageId),
      [normalized[1]!.imageId],
      'another record only the waiting one',
    );

    const deps: LabelDeps = { ...lake.deps, teacher: () => Promise.resolve(teacher) };
    const backlog = new TopologyTestDriver(labelBacklogTopology, {
      deps,
      serde: lake.serde,
      pool,
      partitions: 1,
    });
    try {
      await send(backlog, lake, 'model.promoted', [{ key: 'captioner', value: promoted('tiny-teacher-1') }]);
      await backlog.settle();
      const generated = (await backlog.read<CaptionGenerated>('caption.generated')).map((r) => r.value);
      assert.equal(generated.length, 2, 'the image labeled before the crash gets its event');
      // The ids a first run would have used: a consumer that saw them before the crash drops the repeats.
      assert.deepEqual(
        generated.map((g) => g.eventId).sort(),
        normalized.map((n) => deriveId('caption.generated', n.eventId, 'tiny-teacher-1')).sort(),
      );
    } finally {
      await backlog.close();
    }
  } finally {
    await lake.close();
  }
});

test('a model promoted while an image is being parked: the second look finds it and the image is labeled at once', async () => {
  const lake = await tempLake();
  const pool = new InlinePool();
  const models = await tinyModels();
  const bundle = new Map(Object.entries(await readBundleDir(models.captionflow)));
  let looks = 0;
  // The first look finds no model; the promotion lands before the look after parking.
  const deps: LabelDeps = {
    ...lake.deps,
    teacher: () => Promise.resolve(looks++ === 0 ? null : { version: 'tiny-teacher-1', bundle }),
  };
  const label = new TopologyTestDriver(labelTopology, { deps, serde: lake.serde, pool });
  try {
    const [red] = await normalizedCaptures(lake, pool);
    await send(label, lake, 'image.normalized', [{ key: red!.imageId, value: red }]);
    await label.settle();
    assert.equal((await label.read('caption.generated')).length, 1);
    assert.equal((await lake.deps.catalog.awaitingModel.get(red!.imageId))?.status, 'labeled');
  } finally {
    await label.close();
    await lake.close();
  }
});

test('a model that cannot load still dead-letters the image with MODEL_LOAD_FAILED (no parking, no long retries)', async () => {
  const lake = await tempLake();
  const pool = new InlinePool();
  const models = await tinyModels();
  const bundle = new Map(Object.entries(await readBundleDir(models.captionflow)));
  const encoder = [...bundle.keys()].find((k) => k.includes('encoder'))!;
  const broken = new Map(bundle).set(encoder, new TextEncoder().encode('not an onnx graph'));
  const deps: LabelDeps = {
    ...lake.deps,
    teacher: () => Promise.resolve({ version: 'broken-1', bundle: broken }),
  };
  const label = new TopologyTestDriver(labelTopology, { deps, serde: lake.serde, pool });
  try {
    const [red] = await normalizedCaptures(lake, pool);
    await send(label, lake, 'image.normalized', [{ key: red!.imageId, value: red }]);
    await label.settle();
    const letters = await label.deadLetters();
    assert.deepEqual(
      letters.map((l) => [l.errorCode, l.step]),
      [['MODEL_LOAD_FAILED', 'propose-caption']],
    );
    assert.equal(
      await lake.deps.catalog.awaitingModel.get(red!.imageId),
      null,
      'a model exists: nothing parked',
    );
  } finally {
    await label.close();
    await lake.close();
  }
});
