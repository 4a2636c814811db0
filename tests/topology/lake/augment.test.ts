import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopologyTestDriver } from '../../../runtime/engine/test-driver.ts';
import { InlinePool } from '../../../runtime/workers/piscina-pool.ts';
import { systemClock } from '../../../runtime/clock.ts';
import { generateScene } from '../../../processors/synthetic/index.ts';
import { normalizeTopology } from '../../../topologies/normalize.ts';
import { ingestImage } from '../../../topologies/ingest.ts';
import { tempLake } from './harness.ts';

test('augmentation writes seeded silver variants linked to their source; a replay writes the same ones', async () => {
  const lake = await tempLake();
  const augmenting = { ...lake.deps, augment: { count: 3, seed: 42 } };
  const run = async () => {
    const driver = new TopologyTestDriver(normalizeTopology, { deps: augmenting, serde: lake.serde, pool: new InlinePool() });
    await driver.start();
    const scene = await generateScene(5, { size: 96 });
    const deps = { objects: lake.deps.objects, bucket: 'lake', producer: await driver.log.producer(), serde: lake.serde, clock: systemClock, maxBytes: 1e7 };
    const { event } = await ingestImage(deps, { bytes: scene.image, source: 'bulk', producer: 't', externalId: scene.id, captions: scene.captions.map((text) => ({ text })) });
    await driver.settle();
    await driver.close();
    return event.imageId;
  };
  try {
    const id = await run();
    const first = (await lake.deps.catalog.images.get(id))?.attributes.augmentations as { key: string; seed: string }[];
    assert.equal(first.length, 3);
    assert.equal(new Set(first.map((v) => v.key)).size, 3, 'three distinct variants');
    for (const v of first) {
      const head = await lake.deps.objects.head(v.key);
      assert.equal(head?.metadata['augmented-from'], id, 'linked to its source');
    }
    await run();
    const second = (await lake.deps.catalog.images.get(id))?.attributes.augmentations;
    assert.deepEqual(second, first, 'same seed, same variants');
  } finally {
    await lake.close();
  }
});
