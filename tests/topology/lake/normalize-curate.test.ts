import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ErrorCodes } from '../../../schemas/errors.ts';
import type { ImageCurated, ImageNormalized } from '../../../schemas/generated/types.ts';
import { TopologyTestDriver } from '../../../runtime/engine/test-driver.ts';
import { InlinePool } from '../../../runtime/workers/piscina-pool.ts';
import { systemClock } from '../../../runtime/clock.ts';
import { generateScene } from '../../../processors/synthetic/index.ts';
import { normalizeTopology } from '../../../topologies/normalize.ts';
import { curateTopology } from '../../../topologies/curate.ts';
import { ingestImage, type IngestDeps } from '../../../topologies/ingest.ts';
import { tempLake } from './harness.ts';

test('ingest → normalize → curate on the test driver: silver and gold objects, catalog, dedup, dead letters, idempotent replay', async () => {
  const lake = await tempLake();
  const pool = new InlinePool();
  const normalize = new TopologyTestDriver(normalizeTopology, { deps: lake.deps, serde: lake.serde, pool });
  const curate = new TopologyTestDriver(curateTopology, { deps: lake.deps, serde: lake.serde, pool });
  try {
    await normalize.start();
    const deps: IngestDeps = { objects: lake.deps.objects, bucket: 'lake', producer: await normalize.log.producer(), serde: lake.serde, clock: systemClock, maxBytes: 10_000_000 };
    const scenes = await Promise.all([1, 2, 3, 4, 5].map((s) => generateScene(s, { size: 128 })));
    for (const s of scenes) await ingestImage(deps, { bytes: s.image, source: 'bulk', producer: 'test', externalId: s.id, captions: s.captions.map((text) => ({ text })) });
    // A re-encoded copy of scene 1: different bytes, same picture.
    const copy = await sharp(scenes[0]!.image).jpeg({ quality: 80 }).toBuffer();
    await ingestImage(deps, { bytes: copy, source: 'upload', producer: 'test', captions: [{ text: 'a copy' }] });
    // Poison: truncated JPEG (passes the magic-byte sniff, fails decoding) and an image whose only caption is blank.
    const jpeg = await sharp(scenes[1]!.image).jpeg().toBuffer();
    await ingestImage(deps, { bytes: jpeg.subarray(0, 200), source: 'upload', producer: 'test', captions: [{ text: 'broken' }] });
    await ingestImage(deps, { bytes: await sharp(scenes[2]!.image).png({ compressionLevel: 1 }).toBuffer(), source: 'upload', producer: 'test', captions: [{ text: '   \u200b ' }] });
    await normalize.settle();

    const normalized = (await normalize.read<ImageNormalized>('image.normalized')).map((r) => r.value);
    assert.equal(normalized.length, 6);
    const codes = (await normalize.deadLetters()).map((d) => d.errorCode).sort();
    assert.deepEqual(codes, [ErrorCodes.CAPTION_EMPTY, ErrorCodes.IMAGE_DECODE_FAILED].sort());
    for (const n of normalized) {
      assert.ok(await lake.deps.objects.exists(n.modelInput.key), 'silver model input stored');
      assert.equal((await sharp(await lake.deps.objects.get(n.modelInput.key)).metadata()).width, 64);
      assert.deepEqual(n.lineage.hops.map((h) => h.topology), ['normalize']);
      assert.equal(n.lineage.objects[0]!.layer, 'bronze');
    }

    await curate.start();
    const producer = await curate.log.producer();
    for (const n of normalized) await producer.send([{ topic: 'image.normalized', key: n.imageId, value: await lake.serde.encode('image.normalized', n) }]);
    await curate.settle();
    const events = (await curate.read<ImageCurated>('image.curated')).map((r) => r.value);
    // The pair's survivor is the earlier ingest, then the smaller id: when the copy ranks first, the
    // scene it copies is demoted by a second event. The last event of each image is its verdict.
    const curated = [...new Map(events.map((c) => [c.imageId, c])).values()];
    assert.equal(curated.length, 6);
    assert.ok(events.length === 6 || events.length === 7, `one event per image, plus at most one demotion: ${events.length}`);
    const dup = curated.filter((c) => c.dedup.duplicateOf !== null);
    assert.equal(dup.length, 1, 'one of scene 1 and its re-encoded copy is a near duplicate');
    assert.equal(curated.find((c) => c.imageId === dup[0]!.dedup.duplicateOf)?.goldImage === null, false, 'the survivor is in gold');
    const kept = curated.filter((c) => c.goldImage !== null);
    assert.equal(kept.length, 5);
    for (const c of kept) {
      assert.ok(await lake.deps.objects.exists(c.goldImage!.key));
      const img = await lake.deps.catalog.images.get(c.imageId);
      assert.equal(img?.status, 'curated');
      assert.equal(img?.split, c.split);
      assert.ok((await lake.deps.catalog.captions.byImage(c.imageId)).length >= 1);
    }
    const dupRecord = await lake.deps.catalog.images.get(dup[0]!.imageId);
    assert.equal(dupRecord?.status, 'duplicate');
    assert.match(dupRecord?.reason ?? '', /^DUPLICATE_OF:/);

    // A crash replay (the group re-reads from offset 0, as after losing its commits) changes nothing in the catalog.
    const before = await lake.deps.catalog.images.get(kept[0]!.imageId);
    await curate.close();
    const replay = new TopologyTestDriver(curateTopology, { deps: lake.deps, serde: lake.serde, pool });
    await replay.start();
    const replayProducer = await replay.log.producer();
    for (const r of curate.log.readAll('image.normalized')) await replayProducer.send([{ topic: r.topic, key: r.key, value: r.value, partition: r.partition }]);
    await replay.settle();
    await replay.close();
    const after = await lake.deps.catalog.images.get(kept[0]!.imageId);
    assert.deepEqual(after, before);
    const counts = await lake.deps.catalog.images.countBySplit('curated');
    assert.equal(counts.train + counts.val + counts.test, 5);
  } finally {
    await normalize.close();
    await curate.close();
    await lake.close();
  }
});
