import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { CaptionGenerated, ImageNormalized } from '../../../schemas/generated/types.ts';
import { TopologyTestDriver } from '../../../runtime/engine/test-driver.ts';
import { InlinePool } from '../../../runtime/workers/piscina-pool.ts';
import { systemClock } from '../../../runtime/clock.ts';
import { normalizeTopology } from '../../../topologies/normalize.ts';
import { labelTopology, type LabelDeps } from '../../../topologies/label.ts';
import { ingestCapture } from '../../../topologies/ingest.ts';
import type { Teacher } from '../../../topologies/teacher.ts';
import { readBundleDir, tinyModels } from '../../fixtures/onnx/tiny-models.ts';
import { tempLake } from './harness.ts';

test('caption-less captures get a machine caption from the teacher: catalog (origin machine, model version) and caption.generated', async () => {
  const lake = await tempLake();
  const models = await tinyModels();
  const bundle = new Map(Object.entries(await readBundleDir(models.captionflow)));
  let teacher: Teacher | null = null;
  const labelDeps: LabelDeps = { ...lake.deps, teacher: () => Promise.resolve(teacher) };
  const pool = new InlinePool();
  const normalize = new TopologyTestDriver(normalizeTopology, { deps: lake.deps, serde: lake.serde, pool });
  const label = new TopologyTestDriver(labelTopology, { deps: labelDeps, serde: lake.serde, pool });
  try {
    await normalize.start();
    const deps = { objects: lake.deps.objects, bucket: 'lake', producer: await normalize.log.producer(), serde: lake.serde, clock: systemClock, maxBytes: 1e7 };
    const red = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#e02020' } }).png().toBuffer();
    const blue = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#2020e0' } }).png().toBuffer();
    await ingestCapture(deps, { bytes: red, clientCaptureId: 'c1', deviceId: 'phone-1', capturedAt: Date.UTC(2026, 10, 1), producer: 'app' });
    await ingestCapture(deps, { bytes: blue, clientCaptureId: 'c2', deviceId: 'phone-1', capturedAt: Date.UTC(2026, 10, 1), producer: 'app', caption: 'a blue square' });
    await normalize.settle();
    const normalized = (await normalize.read<ImageNormalized>('image.normalized')).map((r) => r.value);
    assert.equal(normalized.length, 2);

    teacher = { version: 'tiny-teacher-1', bundle };
    await label.start();
    const producer = await label.log.producer();
    for (const n of normalized) await producer.send([{ topic: 'image.normalized', key: n.imageId, value: await lake.serde.encode('image.normalized', n) }]);
    await label.settle();
    const generated = (await label.read<CaptionGenerated>('caption.generated')).map((r) => r.value);
    assert.equal(generated.length, 1, 'only the caption-less capture is labeled');
    assert.equal(generated[0]!.origin, 'machine');
    assert.equal(generated[0]!.modelVersion, 'tiny-teacher-1');
    assert.equal(generated[0]!.text, 'a red circle');
    const captions = await lake.deps.catalog.captions.byImage(generated[0]!.imageId);
    assert.deepEqual(captions.map((c) => [c.text, c.origin, c.modelVersion]), [['a red circle', 'machine', 'tiny-teacher-1']]);
    assert.equal(await label.metrics.recordCount({ topology: 'label', step: 'propose-caption', model_version: 'tiny-teacher-1', outcome: 'ok' }), 1);
  } finally {
    await normalize.close();
    await label.close();
    await lake.close();
  }
});
