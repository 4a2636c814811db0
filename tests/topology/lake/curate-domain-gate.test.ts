/**
 * Curation's OUT_OF_DOMAIN reason on the test driver, with the real domain worker (inline pool)
 * and the tiny trained model's gate: with `domainGate` in the deps, exactly the images the
 * gate finds out of domain are rejected with OUT_OF_DOMAIN naming score, threshold and model
 * version; without it (the default) the same images are curated.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImageCurated, ImageNormalized } from '../../../schemas/generated/types.ts';
import { TopologyTestDriver } from '../../../runtime/engine/test-driver.ts';
import { InlinePool } from '../../../runtime/workers/piscina-pool.ts';
import { systemClock } from '../../../runtime/clock.ts';
import { domainJudge } from '../../../app/models/domain-gate.ts';
import { normalizeTopology } from '../../../topologies/normalize.ts';
import { curateTopology } from '../../../topologies/curate.ts';
import { ingestImage, type IngestDeps } from '../../../topologies/ingest.ts';
import { gatedModel } from '../../fixtures/onnx/gated-model.ts';
import { benchPhotos } from '../../bench/photos.ts';
import { tempLake } from './harness.ts';

test('curate rejects out-of-domain images with OUT_OF_DOMAIN when the gate is on, and only then', { timeout: 10 * 60_000 }, async () => {
  const model = await gatedModel();
  const photos = (await benchPhotos({ min: 1, install: false })).photos.slice(0, 6);
  const lake = await tempLake();
  const pool = new InlinePool();
  const normalize = new TopologyTestDriver(normalizeTopology, { deps: lake.deps, serde: lake.serde, pool });
  try {
    await normalize.start();
    const deps: IngestDeps = { objects: lake.deps.objects, bucket: 'lake', producer: await normalize.log.producer(), serde: lake.serde, clock: systemClock, maxBytes: 50_000_000 };
    const images = [...model.heldOut.slice(0, 6), ...photos.map((p) => new Uint8Array(p.bytes))];
    for (const [i, bytes] of images.entries()) {
      await ingestImage(deps, { bytes, source: 'upload', producer: 'test', externalId: `img-${i}`, captions: [{ text: 'a picture' }] });
    }
    await normalize.settle();
    const normalized = (await normalize.read<ImageNormalized>('image.normalized')).map((r) => r.value);
    assert.equal(normalized.length, images.length);

    const judge = domainJudge(pool, () => Promise.resolve({ version: 'tiny-gated', bundle: model.bundle }));
    const expected = new Map<string, boolean>();
    for (const n of normalized) {
      const verdict = await judge(await lake.deps.objects.get(n.modelInput.key));
      assert.ok(verdict !== null);
      assert.equal(verdict.modelVersion, 'tiny-gated');
      assert.equal(verdict.threshold, model.gate.threshold);
      expected.set(n.imageId, verdict.inDomain);
    }
    const outCount = [...expected.values()].filter((v) => !v).length;
    assert.ok(outCount > 0 && outCount < images.length, `the set has both kinds (${outCount} of ${images.length} out of domain)`);

    const runCurate = async (gateOn: boolean): Promise<ImageCurated[]> => {
      const curateLake = gateOn ? { ...lake.deps, domainGate: judge } : lake.deps;
      const curate = new TopologyTestDriver(curateTopology, { deps: curateLake, serde: lake.serde, pool });
      try {
        await curate.start();
        const producer = await curate.log.producer();
        for (const n of normalized) await producer.send([{ topic: 'image.normalized', key: n.imageId, value: await lake.serde.encode('image.normalized', n) }]);
        await curate.settle();
        assert.deepEqual(await curate.deadLetters(), []);
        return (await curate.read<ImageCurated>('image.curated')).map((r) => r.value);
      } finally {
        await curate.close();
      }
    };

    // Gate off (the default): nothing is rejected for being unlike the training data.
    for (const c of await runCurate(false)) {
      assert.ok(!c.qualityGate.reasons.some((r) => r.startsWith('OUT_OF_DOMAIN')), c.qualityGate.reasons.join('; '));
    }
    // Gate on: exactly the out-of-domain images carry the reason and end up rejected in the catalog.
    for (const c of await runCurate(true)) {
      const reason = c.qualityGate.reasons.find((r) => r.startsWith('OUT_OF_DOMAIN'));
      if (expected.get(c.imageId) === false) {
        assert.match(reason ?? '', /^OUT_OF_DOMAIN: score \d+\.\d{2} > \d+\.\d{2} \(model tiny-gated\)$/);
        assert.equal(c.goldImage, null);
        const record = await lake.deps.catalog.images.get(c.imageId);
        assert.equal(record?.status, 'rejected');
        assert.match(record?.reason ?? '', /OUT_OF_DOMAIN/);
      } else {
        assert.equal(reason, undefined, `${c.imageId} is in domain`);
      }
    }
  } finally {
    await normalize.close();
    await lake.close();
  }
});
