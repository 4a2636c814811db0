import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../runtime/clock.ts';
import { createMemoryLog } from '../../../runtime/log/memory-log.ts';
import type { ImageIngested } from '../../../schemas/generated/types.ts';
import type { DeadLetter } from '../../../runtime/engine/dead-letter.ts';
import { replayDeadLetters } from '../../../app/jobs/dead-letter-replay.ts';
import { processedVersion, reprocessStale } from '../../../app/jobs/reprocess.ts';
import { tempLake } from '../../topology/lake/harness.ts';

const same = (s: string): string => s;

function deadLetter(i: number, code: string): DeadLetter {
  return {
    eventId: `00000000-0000-4000-8000-00000000000${i}`,
    originalTopic: 'image.ingested',
    originalPartition: 0,
    originalOffset: i,
    originalKey: Buffer.from(`k${i}`),
    originalValue: Buffer.from(`v${i}`),
    originalHeaders: { 'cf-source': Buffer.from('upload') },
    originalTimestamp: 1,
    errorCode: code,
    errorMessage: 'bad',
    retriable: false,
    errorContext: null,
    stack: null,
    topology: 'normalize',
    step: 'normalize-image',
    attempts: 1,
    firstFailureAt: 1,
    lastFailureAt: 1,
    deadLetteredAt: 1,
  } as DeadLetter;
}

test('dead-letter replay produces the records of one error code back to their topic, once per filter', async () => {
  const lake = await tempLake();
  const log = createMemoryLog();
  try {
    await log.ensureTopics([{ name: 'dead-letter', partitions: 2 }, { name: 'image.ingested', partitions: 2 }]);
    const producer = await log.producer();
    const codes = ['IMAGE_DECODE_FAILED', 'IMAGE_DECODE_FAILED', 'CAPTION_EMPTY'];
    for (const [i, code] of codes.entries()) {
      await producer.send([{ topic: 'dead-letter', key: `k${i}`, value: await lake.serde.encode('dead-letter', deadLetter(i, code)) }]);
    }
    const deps = { log, producer, serde: lake.serde, topicName: same };
    const first = await replayDeadLetters(deps, { code: 'IMAGE_DECODE_FAILED' });
    assert.deepEqual({ read: first.read, replayed: first.replayed }, { read: 3, replayed: 2 });
    const replayed = log.readAll('image.ingested');
    assert.deepEqual(replayed.map((r) => r.value?.toString()).sort(), ['v0', 'v1']);
    assert.ok(replayed.every((r) => r.headers['cf-replay-of'] !== undefined && r.headers['cf-source'] === 'upload'));
    assert.equal((await replayDeadLetters(deps, { code: 'IMAGE_DECODE_FAILED' })).replayed, 0, 'a second run finds nothing new');
    assert.equal((await replayDeadLetters(deps)).replayed, 3, 'the unfiltered replay has its own progress');
    await producer.close();
  } finally {
    await log.close();
    await lake.close();
  }
});

test('reprocess re-emits image.ingested for images normalized with another processing version', async () => {
  const lake = await tempLake();
  const log = createMemoryLog();
  try {
    await log.ensureTopics([{ name: 'image.ingested', partitions: 1 }]);
    const { catalog } = lake.deps;
    const hop = (v: string) => ({ topology: 'normalize', sourceTopic: 'image.ingested', partition: 0, offset: '1', schemaId: 1, processingVersion: v, at: '2026-01-01T00:00:00.000Z' });
    const versions = { a: 'old', b: 'old', c: 'new' } as const;
    for (const [n, v] of Object.entries(versions)) {
      const id = n.repeat(64);
      await catalog.images.upsert({
        id,
        source: 'upload',
        status: 'curated',
        split: 'train',
        layer: 'gold',
        objects: { bronze: { layer: 'bronze', bucket: 'lake', key: `bronze/${id}.png`, sha256: id, size: 10, versionId: null } },
        lineage: { ingestEventId: `e-${n}`, source: 'upload', hops: [hop(v)] },
      });
      await catalog.captions.upsert({ imageId: id, text: `a picture ${n}`, origin: 'human' });
    }
    assert.equal(processedVersion((await catalog.images.get('a'.repeat(64)))!), 'old');
    const producer = await log.producer();
    const deps = { catalog, producer, serde: lake.serde, clock: new FakeClock(), topicName: same };
    const dry = await reprocessStale(deps, { current: 'new', dryRun: true });
    assert.deepEqual(dry, { scanned: 3, stale: 2, emitted: 0 });
    const r = await reprocessStale(deps, { current: 'new' });
    assert.deepEqual(r, { scanned: 3, stale: 2, emitted: 2 });
    const events = await Promise.all(log.readAll('image.ingested').map(async (x) => (await lake.serde.decode('image.ingested', x.value!)).value as ImageIngested));
    assert.deepEqual(events.map((e) => e.imageId).sort(), ['a'.repeat(64), 'b'.repeat(64)]);
    assert.deepEqual(events.map((e) => e.captions.map((c) => c.text)).sort(), [['a picture a'], ['a picture b']]);
    assert.ok(events.every((e) => e.object.layer === 'bronze' && e.attributes.reprocessedFrom === 'old'));
    await producer.close();
  } finally {
    await log.close();
    await lake.close();
  }
});
