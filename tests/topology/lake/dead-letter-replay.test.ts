import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ErrorCodes } from '../../../schemas/errors.ts';
import type {
  DeadLetter,
  ImageCurated,
  ImageIngested,
  ImageNormalized,
} from '../../../schemas/generated/types.ts';
import { Topics } from '../../../schemas/topics.ts';
import { TopologyTestDriver } from '../../../runtime/engine/test-driver.ts';
import { InlinePool } from '../../../runtime/workers/piscina-pool.ts';
import { systemClock } from '../../../runtime/clock.ts';
import { contentKey } from '../../../runtime/lake/object-keys.ts';
import { generateScene } from '../../../processors/synthetic/index.ts';
import { normalizeTopology } from '../../../topologies/normalize.ts';
import { curateTopology } from '../../../topologies/curate.ts';
import { deadLetterIndexTopology } from '../../../topologies/dead-letters.ts';
import { replayDeadLetters, REPLAY_HEADER } from '../../../services/query/dead-letter-replay.ts';
import { tempLake } from './harness.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** An external producer's event for `bytes`, whose bronze object may or may not have been uploaded. */
function externalEvent(bytes: Uint8Array, n: number): ImageIngested {
  const id = sha(bytes);
  const object = {
    layer: 'bronze' as const,
    bucket: 'lake',
    key: contentKey('bronze', id, 'png'),
    sha256: id,
    size: bytes.length,
    contentType: 'image/png',
    versionId: null,
  };
  const eventId = `00000000-0000-4000-8000-00000000000${n}`;
  return {
    eventId,
    imageId: id,
    occurredAt: 1_700_000_000_000 + n,
    object,
    originalFilename: null,
    captions: [{ text: `a partner scene number ${n}`, origin: 'human', modelVersion: null, language: null }],
    producer: 'partner-x',
    externalId: `px-${n}`,
    importBatchId: null,
    attributes: { partnerRef: `px-${n}` },
    lineage: { ingestEventId: eventId, source: 'external', hops: [], objects: [object] },
  };
}

test('dead-letter replay: records fail for a fixable cause, the cause is fixed, replay moves them through, the open list empties, nothing is duplicated downstream', async () => {
  const lake = await tempLake();
  const pool = new InlinePool();
  const normalize = new TopologyTestDriver(normalizeTopology, { deps: lake.deps, serde: lake.serde, pool });
  const index = new TopologyTestDriver(deadLetterIndexTopology, {
    deps: { catalog: lake.deps.catalog },
    serde: lake.serde,
  });
  const curate = new TopologyTestDriver(curateTopology, { deps: lake.deps, serde: lake.serde, pool });
  const { catalog, objects } = lake.deps;
  try {
    const scenes = await Promise.all([31, 32, 33].map((s) => generateScene(s, { size: 128 })));
    const events = scenes.map((s, i) => externalEvent(s.image, i + 1));
    // The producer uploaded only the first image before publishing: the other two events point at nothing (the fixable cause).
    await objects.put(events[0]!.object.key, scenes[0]!.image, {
      contentType: 'image/png',
      sha256: events[0]!.imageId,
    });
    await normalize.start();
    const producer = await normalize.log.producer();
    for (const e of events)
      await producer.send([
        {
          topic: Topics.imageIngested.name,
          key: e.imageId,
          value: await lake.serde.encode(Topics.imageIngested.name, e),
          headers: { 'cf-source': 'external' },
        },
      ]);
    await normalize.settle();
    const letters = await normalize.deadLetters();
    assert.deepEqual(
      letters.map((l) => l.errorCode),
      [ErrorCodes.OBJECT_NOT_FOUND, ErrorCodes.OBJECT_NOT_FOUND],
    );

    // The index topology enters them in the catalog; re-reading them writes nothing new.
    await index.pipe(letters);
    await index.pipe(letters);
    await index.settle();
    const open = await catalog.deadLetters.list({});
    assert.equal(open.items.length, 2);
    assert.deepEqual(await catalog.deadLetters.countOpenByCode(), { [ErrorCodes.OBJECT_NOT_FOUND]: 2 });
    const shown = (await catalog.deadLetters.get(letters[0]!.eventId))!;
    assert.deepEqual(
      Buffer.from(shown.originalValue!, 'base64'),
      letters[0]!.originalValue,
      'original bytes kept',
    );
    assert.equal(
      (await catalog.deadLetters.list({ imageKey: events[1]!.imageId })).items.length,
      1,
      "an item's dead letters",
    );
    // Filters by code, topic and time.
    assert.equal((await catalog.deadLetters.list({ code: ErrorCodes.IMAGE_DECODE_FAILED })).items.length, 0);
    assert.equal((await catalog.deadLetters.list({ topic: Topics.imageIngested.name })).items.length, 2);
    assert.equal(
      (await catalog.deadLetters.list({ from: new Date(Date.now() + 3_600_000).toISOString() })).items.length,
      0,
    );
    const firstPage = await catalog.deadLetters.list({}, { limit: 1 });
    const secondPage = await catalog.deadLetters.list({}, { limit: 1, after: firstPage.next! });
    assert.notEqual(firstPage.items[0]!.id, secondPage.items[0]!.id);
    assert.equal(secondPage.next, null);

    // Fix the cause, then replay every open OBJECT_NOT_FOUND letter.
    for (const i of [1, 2])
      await objects.put(events[i]!.object.key, scenes[i]!.image, {
        contentType: 'image/png',
        sha256: events[i]!.imageId,
      });
    const replay = await replayDeadLetters(
      { catalog, producer, clock: systemClock },
      { filter: { code: ErrorCodes.OBJECT_NOT_FOUND } },
      'test',
    );
    assert.equal(replay.replayed.length, 2);
    await normalize.settle();
    assert.equal((await normalize.deadLetters()).length, 2, 'no new dead letter');
    assert.deepEqual((await catalog.deadLetters.list({})).items, [], 'the open list is empty');
    assert.equal((await catalog.deadLetters.list({ state: 'replayed' })).items.length, 2);
    assert.equal((await catalog.deadLetters.replayOf(letters[0]!.eventId))?.by, 'test');

    // The replayed records are the originals, byte for byte, with a header naming the letter.
    const ingested = normalize.log.readAll(Topics.imageIngested.name);
    const replayed = ingested.filter((r) => r.headers[REPLAY_HEADER] !== undefined);
    assert.equal(replayed.length, 2);
    for (const r of replayed) {
      const letter: DeadLetter = letters.find((l) => l.eventId === r.headers[REPLAY_HEADER])!;
      assert.deepEqual(r.value, letter.originalValue);
      assert.deepEqual(r.key, letter.originalKey);
      assert.equal(r.headers['cf-source'], 'external');
    }

    // A second replay of the same filter has nothing to do; replaying a replayed id is refused per letter.
    assert.deepEqual(
      (await replayDeadLetters({ catalog, producer, clock: systemClock }, { filter: {} }, 'test')).replayed,
      [],
    );
    assert.deepEqual(
      (
        await replayDeadLetters(
          { catalog, producer, clock: systemClock },
          { ids: [letters[0]!.eventId] },
          'test',
        )
      ).skipped,
      [{ id: letters[0]!.eventId, reason: 'ALREADY_REPLAYED' }],
    );

    // Downstream: one normalized record per image, then curate keeps three images with one caption each.
    const normalized = (await normalize.read<ImageNormalized>(Topics.imageNormalized.name)).map(
      (r) => r.value,
    );
    assert.deepEqual(normalized.map((n) => n.imageId).sort(), events.map((e) => e.imageId).sort());
    await curate.start();
    const curateProducer = await curate.log.producer();
    for (const n of normalized)
      await curateProducer.send([
        {
          topic: Topics.imageNormalized.name,
          key: n.imageId,
          value: await lake.serde.encode(Topics.imageNormalized.name, n),
        },
      ]);
    await curate.settle();
    assert.equal((await curate.read<ImageCurated>(Topics.imageCurated.name)).length, 3);
    for (const e of events) {
      assert.equal((await catalog.images.get(e.imageId))?.status, 'curated');
      assert.equal((await catalog.captions.byImage(e.imageId)).length, 1);
    }
    const all = await catalog.images.list({}, { limit: 100 });
    assert.equal(all.items.length, 3, 'no duplicate image record');
  } finally {
    await curate.close();
    await index.close();
    await normalize.close();
    await lake.close();
  }
});
