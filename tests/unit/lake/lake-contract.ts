/**
 * The lake contract: one suite of behaviours that every (ObjectStore, Catalog) adapter pair must
 * show. Run against fs + SQLite in tests/unit/lake and against S3 + MongoDB (FerretDB) in
 * tests/integration/lake, so the embedded and distributed deployments cannot drift apart.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { captionId } from '../../../runtime/catalog/caption-id.ts';
import { checkConsistency, repairConsistency } from '../../../runtime/lake/consistency.ts';
import {
  curatedSinceDataset,
  diffDatasets,
  getDataset,
  manifestKey,
  snapshotDataset,
} from '../../../runtime/lake/datasets.ts';
import { lineageOf } from '../../../runtime/lake/lineage.ts';
import { readAll } from '../../../runtime/lake/object-body.ts';
import { contentKey } from '../../../runtime/lake/object-store.ts';
import { ErrorCodes } from '../../../schemas/errors.ts';
import {
  SteppedClock,
  listKeys,
  putContent,
  rejectsWithCode,
  seedCuratedImage,
  sha,
  throwsWithCode,
  type LakeFactory,
  type LakeFixture,
} from './lake-fixtures.ts';

/** Options of {@link runLakeContract}. */
export interface ContractOptions {
  /** Skip the whole suite with this reason (e.g. servers not configured). */
  readonly skip?: string;
}

const UNSAFE_KEYS = [
  '',
  '../etc/passwd',
  '/bronze/ab/x.jpg',
  'bronze/../gold/x',
  'bronze/./x',
  'bronze\\ab\\x.jpg',
  'bronze/a\u0000b',
  'bronze//x',
  'bronze/x/',
  'bronze',
  'elsewhere/x',
  'bronze/.hidden',
  'bronze/sp ace',
  `bronze/${'a'.repeat(1100)}`,
];

/** Register the contract suite for the adapter pair built by `factory`. */
export function runLakeContract(label: string, factory: LakeFactory, options: ContractOptions = {}): void {
  describe(`lake contract: ${label}`, { skip: options.skip ?? false }, () => {
    let lake: LakeFixture;
    let clock: SteppedClock;

    beforeEach(async () => {
      clock = new SteppedClock();
      lake = await factory({ now: clock.now });
    });
    afterEach(async () => {
      await lake.cleanup();
    });

    describe('object store', () => {
      it('stores bytes and returns their size, sha256 and metadata', async () => {
        const bytes = randomBytes(1000);
        const key = contentKey('bronze', sha(bytes), 'jpg');
        const put = await lake.store.put(key, bytes, {
          contentType: 'image/jpeg',
          metadata: { 'event-id': 'e1' },
        });
        assert.deepEqual(
          { key: put.key, size: put.size, sha256: put.sha256, written: put.written },
          { key, size: 1000, sha256: sha(bytes), written: true },
        );
        assert.deepEqual(Buffer.from(await lake.store.get(key)), bytes);
        const head = await lake.store.head(key);
        assert.ok(head !== null);
        assert.equal(head.size, 1000);
        assert.equal(head.sha256, sha(bytes));
        assert.equal(head.contentType, 'image/jpeg');
        assert.deepEqual(head.metadata, { 'event-id': 'e1' });
        assert.ok(head.lastModified instanceof Date && !Number.isNaN(head.lastModified.getTime()));
        assert.equal(await lake.store.exists(key), true);
      });

      it('stores an empty object', async () => {
        const put = await lake.store.put('silver/empty/zero.bin', new Uint8Array(0));
        assert.equal(put.size, 0);
        assert.equal((await lake.store.get('silver/empty/zero.bin')).length, 0);
        assert.deepEqual(await readAll(await lake.store.getStream('silver/empty/zero.bin')), Buffer.alloc(0));
      });

      it('does not rewrite identical bytes under a content key (idempotent put)', async () => {
        const bytes = randomBytes(512);
        const key = contentKey('bronze', sha(bytes));
        assert.equal((await lake.store.put(key, bytes)).written, true);
        const again = await lake.store.put(key, Buffer.from(bytes));
        assert.equal(again.written, false);
        assert.equal(again.sha256, sha(bytes));
        const streamed = await lake.store.put(
          key,
          Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]),
          { sha256: sha(bytes) },
        );
        assert.equal(streamed.written, false);
        assert.deepEqual(Buffer.from(await lake.store.get(key)), bytes);
      });

      it('replaces an object atomically when other bytes are put under its key', async () => {
        await lake.store.put('gold/slots/a.bin', Buffer.from('first version'));
        const put = await lake.store.put('gold/slots/a.bin', Buffer.from('second'));
        assert.equal(put.written, true);
        assert.equal(Buffer.from(await lake.store.get('gold/slots/a.bin')).toString(), 'second');
        assert.equal((await lake.store.head('gold/slots/a.bin'))?.sha256, sha(Buffer.from('second')));
      });

      it('refuses a body whose sha256 differs from the announced one, leaving nothing behind', async () => {
        const bytes = randomBytes(300);
        const wrong = sha(Buffer.from('something else'));
        await rejectsWithCode(
          lake.store.put('bronze/ab/bad.bin', bytes, { sha256: wrong }),
          ErrorCodes.OBJECT_CHECKSUM_MISMATCH,
        );
        await rejectsWithCode(
          lake.store.put('bronze/ab/bad2.bin', Readable.from([bytes]), { sha256: wrong }),
          ErrorCodes.OBJECT_CHECKSUM_MISMATCH,
        );
        assert.equal(await lake.store.exists('bronze/ab/bad.bin'), false);
        assert.equal(await lake.store.exists('bronze/ab/bad2.bin'), false);
        assert.deepEqual(await listKeys(lake.store, 'bronze/'), []);
      });

      it('streams large bodies in and out', async () => {
        const chunks = Array.from({ length: 48 }, () => randomBytes(64 * 1024));
        const whole = Buffer.concat(chunks);
        const put = await lake.store.put('models/m1/weights.bin', Readable.from(chunks), {
          contentType: 'application/octet-stream',
        });
        assert.equal(put.size, whole.length);
        assert.equal(put.sha256, sha(whole));
        assert.deepEqual(
          Buffer.from(await readAll(await lake.store.getStream('models/m1/weights.bin'))),
          whole,
        );
        assert.equal((await lake.store.head('models/m1/weights.bin'))?.sha256, sha(whole));
      });

      it('reports absent objects: get/getStream fail with OBJECT_NOT_FOUND, head is null, delete is a no-op', async () => {
        await rejectsWithCode(lake.store.get('gold/none/x.jpg'), ErrorCodes.OBJECT_NOT_FOUND);
        await rejectsWithCode(lake.store.getStream('gold/none/x.jpg'), ErrorCodes.OBJECT_NOT_FOUND);
        assert.equal(await lake.store.head('gold/none/x.jpg'), null);
        assert.equal(await lake.store.exists('gold/none/x.jpg'), false);
        await lake.store.delete('gold/none/x.jpg');
      });

      it('refuses unsafe keys on every operation with OBJECT_KEY_INVALID', async () => {
        for (const key of UNSAFE_KEYS) {
          await throwsWithCode(() => lake.store.put(key, Buffer.from('x')), ErrorCodes.OBJECT_KEY_INVALID);
          await throwsWithCode(() => lake.store.get(key), ErrorCodes.OBJECT_KEY_INVALID);
          await throwsWithCode(() => lake.store.head(key), ErrorCodes.OBJECT_KEY_INVALID);
          await throwsWithCode(() => lake.store.delete(key), ErrorCodes.OBJECT_KEY_INVALID);
          await throwsWithCode(() => lake.store.presignGet(key, 60), ErrorCodes.OBJECT_KEY_INVALID);
        }
        await throwsWithCode(async () => {
          for await (const _ of lake.store.list('../', { recursive: true })) break;
        }, ErrorCodes.OBJECT_KEY_INVALID);
      });

      it('refuses invalid metadata with OBJECT_METADATA_INVALID', async () => {
        await throwsWithCode(
          () => lake.store.put('gold/m/a', Buffer.from('x'), { metadata: { 'Bad Key': 'v' } }),
          ErrorCodes.OBJECT_METADATA_INVALID,
        );
        await throwsWithCode(
          () => lake.store.put('gold/m/a', Buffer.from('x'), { metadata: { ok: 'caf\u00e9' } }),
          ErrorCodes.OBJECT_METADATA_INVALID,
        );
        await throwsWithCode(
          () => lake.store.put('gold/m/a', Buffer.from('x'), { metadata: { sha256: 'x' } }),
          ErrorCodes.OBJECT_METADATA_INVALID,
        );
        await throwsWithCode(
          () => lake.store.put('gold/m/a', Buffer.from('x'), { sha256: 'ABC' }),
          ErrorCodes.OBJECT_METADATA_INVALID,
        );
        assert.equal(await lake.store.exists('gold/m/a'), false);
      });

      it('lists keys in ascending order, recursively or one level, by any prefix', async () => {
        const keys = [
          'gold/a/1.bin',
          'gold/a/2.bin',
          'gold/a-b/3.bin',
          'gold/a/sub/4.bin',
          'gold/top.bin',
          'silver/x/5.bin',
        ];
        for (const key of keys) await lake.store.put(key, Buffer.from(key));
        assert.deepEqual(await listKeys(lake.store, 'gold/'), [
          'gold/a-b/3.bin',
          'gold/a/1.bin',
          'gold/a/2.bin',
          'gold/a/sub/4.bin',
          'gold/top.bin',
        ]);
        assert.deepEqual(await listKeys(lake.store, 'gold/', false), ['gold/top.bin']);
        assert.deepEqual(await listKeys(lake.store, 'gold/a/', false), ['gold/a/1.bin', 'gold/a/2.bin']);
        assert.deepEqual(await listKeys(lake.store, 'gold/a'), [
          'gold/a-b/3.bin',
          'gold/a/1.bin',
          'gold/a/2.bin',
          'gold/a/sub/4.bin',
        ]);
        assert.deepEqual(await listKeys(lake.store, 'bronze/'), []);
        assert.deepEqual((await listKeys(lake.store, '')).sort(), [...keys].sort());
        const sizes = [];
        for await (const e of lake.store.list('silver/', { recursive: true })) sizes.push(e.size);
        assert.deepEqual(sizes, [Buffer.byteLength('silver/x/5.bin')]);
        await lake.store.delete('gold/a/1.bin');
        assert.deepEqual(await listKeys(lake.store, 'gold/a/', false), ['gold/a/2.bin']);
      });

      it('answers presignGet with a URL serving the bytes (s3) or null (fs)', async () => {
        await lake.store.put('gold/p/x.txt', Buffer.from('presigned'), { contentType: 'text/plain' });
        const url = await lake.store.presignGet('gold/p/x.txt', 60);
        if (lake.store.kind === 'fs') {
          assert.equal(url, null);
          return;
        }
        assert.ok(url !== null);
        const res = await fetch(url);
        assert.equal(res.status, 200);
        assert.equal(await res.text(), 'presigned');
      });
    });

    describe('catalog', () => {
      it('an image sent through two doors keeps its first door and lists both, whatever came last', async () => {
        const id = sha(randomBytes(32));
        await lake.catalog.images.upsert({ id, source: 'upload', lineage: { ingestEventId: 'e1', source: 'upload', hops: [], objects: [] } });
        const second = await lake.catalog.images.upsert({ id, source: 'bulk', lineage: { ingestEventId: 'e2', source: 'bulk', hops: [], objects: [] } });
        assert.equal(second.record.source, 'upload', 'the first door is not overwritten');
        assert.deepEqual(second.record.sources, ['bulk', 'upload']);
        assert.equal(second.record.lineage?.source, 'upload');
        const again = await lake.catalog.images.upsert({ id, source: 'bulk' });
        assert.deepEqual((await lake.catalog.images.get(id))?.sources, ['bulk', 'upload'], 'a door listed once');
        assert.equal(again.changed, false);
      });

      it('creates an image, and an identical replay changes nothing, not even updatedAt', async () => {
        const bytes = randomBytes(64);
        const bronze = await putContent(lake.store, 'bronze', bytes);
        const patch = {
          id: sha(bytes),
          source: 'upload',
          objects: { bronze },
          attributes: { camera: 'x1' },
        } as const;
        const first = await lake.catalog.images.upsert(patch);
        assert.equal(first.created, true);
        assert.equal(first.changed, true);
        assert.equal(first.record.status, 'ingested');
        assert.equal(first.record.layer, 'bronze');
        clock.tick();
        const replay = await lake.catalog.images.upsert(patch);
        assert.equal(replay.created, false);
        assert.equal(replay.changed, false);
        assert.equal(replay.record.updatedAt, first.record.updatedAt);
        assert.deepEqual(await lake.catalog.images.get(patch.id), first.record);
      });

      it('merges writes of successive topologies and never moves status backwards', async () => {
        const record = await seedCuratedImage(lake, { split: 'val' });
        assert.equal(record.status, 'curated');
        assert.equal(record.layer, 'gold');
        assert.deepEqual(Object.keys(record.objects).sort(), ['bronze', 'gold', 'silver']);
        assert.equal(record.width, 64);
        assert.equal(record.lineage?.hops.length, 2);
        clock.tick();
        // A replayed normalize event arrives after curation.
        const replay = await lake.catalog.images.upsert({
          id: record.id,
          layer: 'silver',
          status: 'normalized',
          width: 64,
          height: 48,
          format: 'jpeg',
        });
        assert.equal(replay.changed, false);
        assert.equal(replay.record.status, 'curated');
        assert.equal(replay.record.layer, 'gold');
        // Re-curation may change the decision.
        const rejected = await lake.catalog.images.upsert({
          id: record.id,
          status: 'rejected',
          reason: 'QUALITY_REJECTED',
        });
        assert.equal(rejected.record.status, 'rejected');
        assert.equal(rejected.record.reason, 'QUALITY_REJECTED');
        assert.notEqual(rejected.record.updatedAt, record.updatedAt);
        assert.equal(rejected.record.createdAt, record.createdAt);
      });

      it('merges lineage hops and objects without duplicates, whatever the order', async () => {
        const id = sha(randomBytes(10));
        const hop = (topology: string, offset: string) => ({
          topology,
          sourceTopic: 't',
          partition: 0,
          offset,
          schemaId: 1,
          processingVersion: 'v1',
          at: '2026-01-01T00:00:00Z',
        });
        await lake.catalog.images.upsert({
          id,
          lineage: { ingestEventId: 'e1', source: 'upload', hops: [hop('normalize', '5')] },
        });
        await lake.catalog.images.upsert({
          id,
          lineage: { hops: [hop('ingest', '2'), hop('normalize', '5')] },
        });
        const again = await lake.catalog.images.upsert({ id, lineage: { hops: [hop('ingest', '2')] } });
        assert.equal(again.changed, false);
        assert.deepEqual(
          again.record.lineage?.hops.map((h) => `${h.topology}@${h.offset}`),
          ['ingest@2', 'normalize@5'],
        );
        assert.equal(again.record.lineage?.ingestEventId, 'e1');
        assert.equal(again.record.lineage?.hops[0]?.at, '2026-01-01T00:00:00.000Z');
      });

      it('loses no contribution when writers race on one record', async () => {
        const id = sha(randomBytes(10));
        await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            lake.catalog.images.upsert({ id, attributes: { [`w${i}`]: i } }),
          ),
        );
        const record = await lake.catalog.images.get(id);
        assert.equal(Object.keys(record?.attributes ?? {}).length, 12);
      });

      it('pages images by id with a cursor and filters by layer, status and split', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 7; i += 1)
          ids.push((await seedCuratedImage(lake, { split: i < 4 ? 'train' : 'test', captions: [] })).id);
        const ingestedOnly = sha(randomBytes(8));
        await lake.catalog.images.upsert({ id: ingestedOnly });
        const seen: string[] = [];
        let after: string | undefined;
        let pages = 0;
        do {
          const page = await lake.catalog.images.list(
            { status: 'curated' },
            { limit: 3, ...(after === undefined ? {} : { after }) },
          );
          seen.push(...page.items.map((i) => i.id));
          after = page.next ?? undefined;
          pages += 1;
        } while (after !== undefined);
        assert.equal(pages, 3);
        assert.deepEqual(seen, [...ids].sort());
        assert.equal((await lake.catalog.images.list({ split: 'test' })).items.length, 3);
        assert.equal((await lake.catalog.images.list({ layer: 'gold', split: 'train' })).items.length, 4);
        assert.deepEqual(
          (await lake.catalog.images.list({ status: 'ingested' })).items.map((i) => i.id),
          [ingestedOnly],
        );
        assert.deepEqual(
          (await lake.catalog.images.list({ split: null })).items.map((i) => i.id),
          [ingestedOnly],
        );
        assert.deepEqual(await lake.catalog.images.countBySplit(), { train: 4, val: 0, test: 3, none: 0 });
        assert.deepEqual(await lake.catalog.images.countBySplit('ingested'), {
          train: 0,
          val: 0,
          test: 0,
          none: 1,
        });
        const many = await lake.catalog.images.getMany([ids[2] as string, 'f'.repeat(64), ids[0] as string]);
        assert.deepEqual(
          many.map((i) => i.id),
          [ids[2], ids[0]],
        );
        await throwsWithCode(
          () => lake.catalog.images.list({}, { limit: 0 }),
          ErrorCodes.CATALOG_RECORD_INVALID,
        );
      });

      it('finds images curated since a time', async () => {
        await seedCuratedImage(lake, { curatedAt: '2026-02-01T00:00:00Z' });
        const late = await seedCuratedImage(lake, { curatedAt: '2026-03-01T00:00:00+02:00' });
        assert.equal(late.curatedAt, '2026-02-28T22:00:00.000Z');
        assert.equal(await lake.catalog.images.countCuratedSince('2026-01-15T00:00:00Z'), 2);
        assert.equal(await lake.catalog.images.countCuratedSince('2026-02-01T00:00:00Z'), 1);
        const page = await lake.catalog.images.listCuratedSince('2026-02-15T00:00:00Z');
        assert.deepEqual(
          page.items.map((i) => i.id),
          [late.id],
        );
        // Curation without an explicit time takes the catalog clock.
        const auto = await seedCuratedImage(lake);
        assert.equal(auto.curatedAt, clock.now().toISOString());
      });

      it('lists changes by (updatedAt, id) in pages that split ties, each change once, none past `until`', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 7; i++) {
          // Ties of three on updatedAt: pages of two must resume inside a tie.
          if (i % 3 === 0) clock.tick();
          ids.push(
            (await lake.catalog.images.upsert({ id: sha(Buffer.from(`change ${i}`)), source: 'upload' }))
              .record.id,
          );
        }
        clock.tick();
        const until = clock.now().toISOString();
        clock.tick();
        await lake.catalog.images.upsert({ id: sha(Buffer.from('after until')), source: 'upload' });
        const seen: { updatedAt: string; id: string }[] = [];
        let after: { updatedAt: string; id: string } | null = null;
        for (;;) {
          const page = await lake.catalog.images.listUpdated(after, until, 2);
          if (page.length === 0) break;
          assert.ok(page.length <= 2);
          seen.push(...page.map((r) => ({ updatedAt: r.updatedAt, id: r.id })));
          after = seen[seen.length - 1]!;
        }
        const expected = [...seen].sort((a, b) =>
          a.updatedAt === b.updatedAt ? (a.id < b.id ? -1 : 1) : a.updatedAt < b.updatedAt ? -1 : 1,
        );
        assert.deepEqual(seen, expected);
        assert.deepEqual(new Set(seen.map((s) => s.id)), new Set(ids));
        assert.equal(seen.length, ids.length);
      });

      it('refuses invalid records with CATALOG_RECORD_INVALID', async () => {
        await throwsWithCode(
          () => lake.catalog.images.upsert({ id: 'not-a-sha' }),
          ErrorCodes.CATALOG_RECORD_INVALID,
        );
        await throwsWithCode(
          () => lake.catalog.images.upsert({ id: 'a'.repeat(64), attributes: { 'bad.key': 1 } }),
          ErrorCodes.CATALOG_RECORD_INVALID,
        );
        await throwsWithCode(
          () => lake.catalog.images.upsert({ id: 'a'.repeat(64), split: 'holdout' as 'train' }),
          ErrorCodes.CATALOG_RECORD_INVALID,
        );
        await throwsWithCode(
          () => lake.catalog.captions.upsert({ imageId: 'a'.repeat(64), text: '', origin: 'human' }),
          ErrorCodes.CATALOG_RECORD_INVALID,
        );
        assert.equal(await lake.catalog.images.get('a'.repeat(64)), null);
      });

      it('keys captions by image and identity text; human origin is sticky', async () => {
        const imageId = sha(randomBytes(8));
        const a = await lake.catalog.captions.upsert({
          imageId,
          text: 'A dog runs on the beach.',
          origin: 'human',
          language: 'en',
        });
        assert.equal(a.record.id, captionId(imageId, 'a dog runs on the beach'));
        const same = await lake.catalog.captions.upsert({
          imageId,
          text: 'a  dog runs on the BEACH',
          origin: 'machine',
          modelVersion: 'm1',
        });
        assert.equal(same.record.id, a.record.id);
        assert.equal(same.record.origin, 'human');
        assert.equal(same.record.text, 'A dog runs on the beach.');
        await lake.catalog.captions.upsert({ imageId, text: 'Two dogs', origin: 'machine', score: 0.5 });
        const other = sha(randomBytes(8));
        await lake.catalog.captions.upsert({ imageId: other, text: 'A cat', origin: 'human' });
        assert.equal((await lake.catalog.captions.byImage(imageId)).length, 2);
        const by = await lake.catalog.captions.byImages([imageId, other, 'b'.repeat(64)]);
        assert.deepEqual([...by.keys()], [imageId, other, 'b'.repeat(64)]);
        assert.deepEqual(
          by.get(other)?.map((c) => c.text),
          ['A cat'],
        );
        assert.deepEqual(by.get('b'.repeat(64)), []);
        clock.tick();
        const replay = await lake.catalog.captions.upsert({
          imageId,
          text: 'Two dogs',
          origin: 'machine',
          score: 0.5,
        });
        assert.equal(replay.changed, false);
      });

      it('points aliases at model versions atomically, with compare-and-set', async () => {
        await lake.catalog.models.upsert({
          id: 'captioner-1',
          name: 'captioner',
          datasetId: 'ds-000000000001',
          metrics: { bleu4: 0.2 },
        });
        clock.tick();
        await lake.catalog.models.upsert({ id: 'captioner-2', name: 'captioner', metrics: { bleu4: 0.3 } });
        await lake.catalog.models.upsert({ id: 'other-1', name: 'other' });
        const merged = await lake.catalog.models.upsert({
          id: 'captioner-1',
          name: 'captioner',
          status: 'evaluated',
          metrics: { cider: 0.7 },
        });
        assert.deepEqual(merged.record.metrics, { bleu4: 0.2, cider: 0.7 });
        assert.deepEqual(
          (await lake.catalog.models.listByName('captioner')).map((m) => m.id),
          ['captioner-2', 'captioner-1'],
        );

        const champion = await lake.catalog.models.setAlias('captioner', 'champion', 'captioner-1', {
          expected: null,
        });
        assert.deepEqual(
          { version: champion.version, previous: champion.previous },
          { version: 'captioner-1', previous: null },
        );
        clock.tick();
        const same = await lake.catalog.models.setAlias('captioner', 'champion', 'captioner-1');
        assert.equal(same.updatedAt, champion.updatedAt);
        await rejectsWithCode(
          lake.catalog.models.setAlias('captioner', 'champion', 'captioner-2', { expected: 'captioner-0' }),
          ErrorCodes.CATALOG_CONFLICT,
        );
        await rejectsWithCode(
          lake.catalog.models.setAlias('captioner', 'champion', 'other-1'),
          ErrorCodes.CATALOG_RECORD_INVALID,
        );
        await rejectsWithCode(
          lake.catalog.models.setAlias('captioner', 'champion', 'captioner-9'),
          ErrorCodes.CATALOG_RECORD_INVALID,
        );
        const promoted = await lake.catalog.models.setAlias('captioner', 'champion', 'captioner-2', {
          expected: 'captioner-1',
        });
        assert.equal(promoted.previous, 'captioner-1');
        await lake.catalog.models.setAlias('captioner', 'challenger', 'captioner-1');
        assert.equal((await lake.catalog.models.byAlias('captioner', 'champion'))?.id, 'captioner-2');
        assert.equal((await lake.catalog.models.byAlias('captioner', 'challenger'))?.id, 'captioner-1');
        assert.equal(await lake.catalog.models.byAlias('captioner', 'shadow'), null);
        assert.deepEqual(
          (await lake.catalog.models.listAliases('captioner')).map((a) => `${a.alias}=${a.version}`),
          ['challenger=captioner-1', 'champion=captioner-2'],
        );
      });

      it('lets exactly one of two racing promoters win a compare-and-set', async () => {
        await lake.catalog.models.upsert({ id: 'm-a', name: 'cap' });
        await lake.catalog.models.upsert({ id: 'm-b', name: 'cap' });
        const results = await Promise.allSettled([
          lake.catalog.models.setAlias('cap', 'champion', 'm-a', { expected: null }),
          lake.catalog.models.setAlias('cap', 'champion', 'm-b', { expected: null }),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      });

      it('records job runs whose status never moves back', async () => {
        await lake.catalog.jobRuns.upsert({
          id: 'train-1',
          name: 'train',
          status: 'running',
          startedAt: '2026-01-01T00:00:00Z',
          params: { epochs: 3 },
        });
        clock.tick();
        await lake.catalog.jobRuns.upsert({
          id: 'train-1',
          name: 'train',
          status: 'succeeded',
          finishedAt: '2026-01-01T01:00:00Z',
          result: { modelVersion: 'm1' },
        });
        clock.tick();
        const replay = await lake.catalog.jobRuns.upsert({
          id: 'train-1',
          name: 'train',
          status: 'running',
          startedAt: '2026-01-01T00:00:00Z',
          params: { epochs: 3 },
        });
        assert.equal(replay.changed, false);
        assert.equal(replay.record.status, 'succeeded');
        assert.deepEqual(replay.record.result, { modelVersion: 'm1' });
        await lake.catalog.jobRuns.upsert({
          id: 'train-2',
          name: 'train',
          status: 'failed',
          error: { code: 'TRAINING_FAILED', message: 'nan loss', retriable: false },
        });
        await lake.catalog.jobRuns.upsert({ id: 'eval-1', name: 'evaluate', status: 'queued' });
        assert.deepEqual(
          (await lake.catalog.jobRuns.listByName('train')).map((r) => r.id),
          ['train-2', 'train-1'],
        );
        assert.equal((await lake.catalog.jobRuns.get('train-2'))?.error?.code, 'TRAINING_FAILED');
      });

      it('sets integrity marks without touching updatedAt', async () => {
        const record = await seedCuratedImage(lake);
        clock.tick();
        await lake.catalog.images.setIntegrity(record.id, {
          missingKeys: ['gold/x'],
          checkedAt: '2026-01-02T00:00:00.000Z',
        });
        const marked = await lake.catalog.images.get(record.id);
        assert.deepEqual(marked?.integrity, {
          missingKeys: ['gold/x'],
          checkedAt: '2026-01-02T00:00:00.000Z',
        });
        assert.equal(marked?.updatedAt, record.updatedAt);
        // A later upsert keeps the mark (it is the repair's to clear).
        await lake.catalog.images.upsert({ id: record.id, quality: 0.1 });
        assert.deepEqual((await lake.catalog.images.get(record.id))?.integrity?.missingKeys, ['gold/x']);
        await lake.catalog.images.setIntegrity(record.id, null);
        assert.equal((await lake.catalog.images.get(record.id))?.integrity, null);
      });
    });

    describe('awaiting-model store', () => {
      it('parks once, lists the waiting records and those one source record resolved, and counts the waiting', async () => {
        const am = lake.catalog.awaitingModel;
        const [a, b] = [sha(randomBytes(16)), sha(randomBytes(16))];
        assert.equal(await am.park(a, { imageId: a, n: 1 }), true);
        assert.equal(await am.park(a, { imageId: a, n: 2 }), false, 'a replay writes nothing');
        assert.equal(await am.park(b, { imageId: b, n: 3 }), true);
        assert.equal(await am.countAwaiting(), 2);
        assert.deepEqual((await am.get(a))?.event, { imageId: a, n: 1 });
        await am.resolve(a, { modelVersion: 'v1', resumedBy: 'model.promoted/0/7' });
        await am.resolve(sha(randomBytes(16)), { modelVersion: 'v1', resumedBy: 'model.promoted/0/7' });
        assert.equal(await am.countAwaiting(), 1);
        assert.equal((await am.get(a))?.status, 'labeled');
        assert.equal((await am.get(a))?.resolution?.modelVersion, 'v1');
        assert.deepEqual((await am.toResume('model.promoted/0/7')).map((e) => e.imageId).sort(), [a, b].sort());
        assert.deepEqual((await am.toResume('model.promoted/0/8')).map((e) => e.imageId), [b]);
      });
    });

    describe('near-duplicate store', () => {
      const flip = (hex: string, bits: readonly number[]): string => {
        let h = BigInt(`0x${hex}`);
        for (const b of bits) h ^= 1n << BigInt(b);
        return h.toString(16).padStart(16, '0');
      };
      const member = (pHash: string, ingestedAt: string) => ({
        imageId: sha(randomBytes(16)),
        pHash,
        ingestedAt,
        silverKey: 'silver/ab/x.webp',
        facts: { note: 'opaque', n: 1 },
      });

      it('registers a member once: a replay keeps the first ingest time and adds no candidate', async () => {
        const nd = lake.catalog.nearDuplicates;
        const m = member('0123456789abcdef', '2026-01-01T00:00:05.000Z');
        const first = await nd.register(m, 6);
        assert.equal(first.ingestedAt, '2026-01-01T00:00:05.000Z');
        assert.deepEqual(first.facts, { note: 'opaque', n: 1 });
        clock.tick();
        const replay = await nd.register({ ...m, ingestedAt: '2026-01-01T00:00:09.000Z' }, 6);
        assert.deepEqual(replay, first);
        assert.deepEqual(await nd.member(m.imageId), first);
        assert.deepEqual(await nd.members([sha(randomBytes(4)), m.imageId]), [first]);
        const found = await nd.within(m.pHash, 6);
        assert.deepEqual(found, [
          {
            imageId: m.imageId,
            pHash: m.pHash,
            ingestedAt: first.ingestedAt,
            silverKey: m.silverKey,
            distance: 0,
          },
        ]);
      });

      it('finds every member within the radius through its bands, nearest first, and none beyond it', async () => {
        const nd = lake.catalog.nearDuplicates;
        const base = 'f0e1d2c3b4a59687';
        // Bits 0, 10, 19, 28, 37, 46 sit in six different bands of radius 6: only band 6 stays equal.
        const far = member(flip(base, [0, 10, 19, 28, 37, 46]), '2026-01-01T00:00:01.000Z');
        const near = member(flip(base, [3]), '2026-01-01T00:00:02.000Z');
        const beyond = member(flip(base, [0, 10, 19, 28, 37, 46, 47]), '2026-01-01T00:00:00.000Z');
        const unrelated = member(flip(base, [...Array(64).keys()]), '2026-01-01T00:00:00.000Z');
        for (const m of [far, near, beyond, unrelated]) await nd.register(m, 6);
        const found = await nd.within(base, 6);
        assert.deepEqual(
          found.map((c) => [c.imageId, c.distance]),
          [
            [near.imageId, 1],
            [far.imageId, 6],
          ],
        );
        // Another radius is another band layout: nothing registered under it yet.
        assert.deepEqual(await nd.within(base, 3), []);
      });

      it('records supersessions once and lists them earliest superseding image first', async () => {
        const nd = lake.catalog.nearDuplicates;
        const [dup, early, late] = [sha(randomBytes(8)), sha(randomBytes(8)), sha(randomBytes(8))];
        assert.equal(
          await nd.supersede({
            imageId: dup,
            by: late,
            byIngestedAt: '2026-01-01T00:00:02.000Z',
            distance: 3,
          }),
          true,
        );
        assert.equal(
          await nd.supersede({
            imageId: dup,
            by: early,
            byIngestedAt: '2026-01-01T00:00:01.000Z',
            distance: 2,
          }),
          true,
        );
        assert.equal(
          await nd.supersede({
            imageId: dup,
            by: late,
            byIngestedAt: '2026-01-01T00:00:02.000Z',
            distance: 3,
          }),
          false,
          'a replay writes nothing',
        );
        const list = await nd.supersessionsOf(dup);
        assert.deepEqual(
          list.map((s) => [s.by, s.distance]),
          [
            [early, 2],
            [late, 3],
          ],
        );
        assert.deepEqual(await nd.supersessionsOf(early), []);
      });

      it('refuses invalid entries with CATALOG_RECORD_INVALID', async () => {
        const nd = lake.catalog.nearDuplicates;
        await rejectsWithCode(
          nd.register(member('not-a-hash', '2026-01-01T00:00:00.000Z'), 6),
          ErrorCodes.CATALOG_RECORD_INVALID,
        );
        await rejectsWithCode(
          nd.register(member('0123456789abcdef', '2026-01-01T00:00:00.000Z'), 64),
          ErrorCodes.CATALOG_RECORD_INVALID,
        );
        const id = sha(randomBytes(8));
        await rejectsWithCode(
          nd.supersede({ imageId: id, by: id, byIngestedAt: '2026-01-01T00:00:00.000Z', distance: 0 }),
          ErrorCodes.CATALOG_RECORD_INVALID,
        );
      });
    });

    describe('dataset versions', () => {
      it('snapshots curated images into an immutable, content-addressed version', async () => {
        const a = await seedCuratedImage(lake, {
          split: 'train',
          captions: [{ text: 'one' }, { text: 'machine one', origin: 'machine' }],
        });
        const b = await seedCuratedImage(lake, { split: 'test', captions: [{ text: 'two' }] });
        await seedCuratedImage(lake, {
          split: 'val',
          captions: [{ text: 'only machine', origin: 'machine' }],
        });
        await lake.catalog.images.upsert({ id: sha(randomBytes(4)) });

        const first = await snapshotDataset(lake, { name: 'coco-mini', now: clock.now });
        assert.equal(first.created, true);
        assert.match(first.manifest.id, /^ds-[0-9a-f]{12}$/);
        assert.equal(first.skippedWithoutCaptions, 1);
        assert.deepEqual(first.manifest.counts, { train: 1, val: 0, test: 1, total: 2, captions: 2 });
        assert.deepEqual(
          first.manifest.items.map((i) => i.imageId),
          [a.id, b.id].sort(),
        );
        assert.equal(first.manifest.parent, null);
        assert.equal(first.record.manifest.key, manifestKey(first.manifest.id));
        assert.equal(await lake.store.exists(manifestKey(first.manifest.id)), true);
        const itemA = first.manifest.items.find((i) => i.imageId === a.id);
        assert.equal(itemA?.key, a.objects.gold?.key);
        assert.equal(itemA?.sha256, a.objects.gold?.sha256);
        assert.deepEqual(
          itemA?.captions.map((c) => c.text),
          ['one'],
        );

        clock.tick();
        const again = await snapshotDataset(lake, { name: 'coco-mini', now: clock.now });
        assert.equal(again.created, false);
        assert.equal(again.manifest.id, first.manifest.id);
        assert.equal(again.record.createdAt, first.record.createdAt);
        assert.deepEqual(await getDataset(lake, first.manifest.id), first.manifest);
        assert.equal(await getDataset(lake, 'ds-000000000000'), null);

        const withMachine = await snapshotDataset(lake, {
          name: 'coco-mini',
          includeMachineCaptions: true,
          now: clock.now,
        });
        assert.notEqual(withMachine.manifest.id, first.manifest.id);
        assert.equal(withMachine.manifest.parent, first.manifest.id);
        assert.equal(withMachine.manifest.counts.total, 3);
        assert.equal((await lake.catalog.datasets.latest('coco-mini'))?.id, withMachine.manifest.id);
        const trainOnly = await snapshotDataset(lake, {
          name: 'coco-train',
          filter: { splits: ['train'] },
          now: clock.now,
        });
        assert.deepEqual(
          trainOnly.manifest.items.map((i) => i.imageId),
          [a.id],
        );
      });

      it('lists augmentation variants on train items only, and diffs them', async () => {
        const variants = async (n: number): Promise<{ key: string; sha256: string; seed: string }[]> => {
          const out = [];
          for (let i = 0; i < n; i++) {
            const ref = await putContent(lake.store, 'silver', randomBytes(64), 'webp');
            out.push({ key: ref.key, sha256: ref.sha256, seed: String(i + 1), params: '{}' });
          }
          return out;
        };
        const train = await seedCuratedImage(lake, { split: 'train', captions: [{ text: 'a train image' }] });
        const test = await seedCuratedImage(lake, { split: 'test', captions: [{ text: 'a test image' }] });
        const plain = await seedCuratedImage(lake, { split: 'train', captions: [{ text: 'no variants' }] });
        const trainVariants = await variants(2);
        await lake.catalog.images.upsert({ id: train.id, attributes: { augmentations: trainVariants } });
        await lake.catalog.images.upsert({ id: test.id, attributes: { augmentations: await variants(2) } });
        // A malformed link (not in silver) is left out rather than trusted.
        await lake.catalog.images.upsert({ id: plain.id, attributes: { augmentations: [{ key: '../etc/passwd', sha256: 'x' }] } });

        const v1 = await snapshotDataset(lake, { name: 'aug', now: clock.now });
        const item = (id: string) => v1.manifest.items.find((i) => i.imageId === id)!;
        assert.deepEqual(item(train.id).augmentations, trainVariants.map(({ key, sha256, seed }) => ({ key, sha256, seed })));
        assert.equal('augmentations' in item(test.id), false, 'no variants of an evaluated image');
        assert.equal('augmentations' in item(plain.id), false);

        await lake.catalog.images.upsert({ id: train.id, attributes: { augmentations: [...trainVariants, ...(await variants(1))] } });
        clock.tick();
        const v2 = await snapshotDataset(lake, { name: 'aug', now: clock.now });
        assert.notEqual(v2.manifest.id, v1.manifest.id);
        const diff = await diffDatasets(lake, v1.manifest.id, v2.manifest.id);
        assert.deepEqual(diff.changed.map((c) => [c.imageId, c.fields]), [[train.id, ['augmentations']]]);
      });

      it('diffs two versions and counts what a new snapshot would add', async () => {
        const a = await seedCuratedImage(lake, { split: 'train', captions: [{ text: 'a' }] });
        const b = await seedCuratedImage(lake, { split: 'train', captions: [{ text: 'b' }] });
        const v1 = await snapshotDataset(lake, { name: 'd', now: clock.now });
        assert.deepEqual(await curatedSinceDataset(lake, v1.manifest.id), { count: 0, sample: [] });
        const c = await seedCuratedImage(lake, { split: 'val', captions: [{ text: 'c' }] });
        await seedCuratedImage(lake, { split: 'val', captions: [] });
        await lake.catalog.images.upsert({ id: b.id, split: 'test' });
        await lake.catalog.captions.upsert({ imageId: a.id, text: 'a second caption', origin: 'human' });
        assert.deepEqual(await curatedSinceDataset(lake, v1.manifest.id), { count: 1, sample: [c.id] });
        clock.tick();
        const v2 = await snapshotDataset(lake, { name: 'd', now: clock.now });
        const diff = await diffDatasets(lake, v1.manifest.id, v2.manifest.id);
        assert.equal(diff.from, v1.manifest.id);
        assert.deepEqual(
          diff.added.map((i) => i.imageId),
          [c.id],
        );
        assert.deepEqual(diff.removed, []);
        assert.deepEqual(
          diff.changed.map((ch) => `${ch.imageId === a.id ? 'a' : 'b'}:${ch.fields.join(',')}`).sort(),
          ['a:captions', 'b:split'],
        );
        const back = await diffDatasets(lake, v2.manifest, v1.manifest);
        assert.deepEqual(
          back.removed.map((i) => i.imageId),
          [c.id],
        );
        await rejectsWithCode(
          diffDatasets(lake, v1.manifest.id, 'ds-ffffffffffff'),
          ErrorCodes.OBJECT_NOT_FOUND,
        );
      });
    });

    describe('lineage', () => {
      it('traces an image and a caption back to the bronze object, offsets and versions', async () => {
        const image = await seedCuratedImage(lake, { captions: [{ text: 'a red bus' }] });
        const report = await lineageOf(lake.catalog, image.id);
        assert.ok(report !== null);
        assert.equal(report.subject.kind, 'image');
        assert.deepEqual(report.bronze, image.objects.bronze);
        assert.equal(report.lineage?.ingestEventId, `evt-${image.id.slice(0, 8)}`);
        assert.deepEqual(
          report.hops.map((h) => [
            h.topology,
            h.sourceTopic,
            h.partition,
            h.offset,
            h.schemaId,
            h.processingVersion,
          ]),
          [
            ['ingest', 'upload.received', 0, '1', 1, 'ingest@1'],
            ['curate', 'image.normalized', 1, '7', 3, 'curate@2'],
          ],
        );
        assert.deepEqual(
          report.objects.map((o) => o.layer),
          ['bronze', 'silver', 'gold'],
        );
        assert.equal(report.objects[0]?.bucket, lake.store.location);

        const capId = captionId(image.id, 'a red bus');
        const viaCaption = await lineageOf(lake.catalog, capId);
        assert.equal(viaCaption?.subject.kind, 'caption');
        assert.equal(viaCaption?.imageId, image.id);
        assert.deepEqual(viaCaption?.bronze, image.objects.bronze);
        assert.equal(await lineageOf(lake.catalog, 'c'.repeat(64)), null);
        assert.equal(await lineageOf(lake.catalog, `cap-${'d'.repeat(64)}`), null);
      });
    });

    describe('consistency', () => {
      it("counts a model's evaluation report as referenced, and an unpointed file beside it as an orphan", async () => {
        const artifact = await lake.store.put('models/cap/cap-1/model.onnx', randomBytes(64));
        const report = await lake.store.put('models/cap/cap-1/evaluation-ds-1-test.json', Buffer.from('{}'), { contentType: 'application/json' });
        const stray = await lake.store.put('models/cap/cap-1/evaluation-ds-0-test.json', Buffer.from('{}'));
        await lake.catalog.models.upsert({
          id: 'cap-1',
          name: 'cap',
          artifacts: [{ layer: 'models', bucket: lake.store.location, key: artifact.key, sha256: artifact.sha256, size: artifact.size, versionId: null }],
          params: { evaluationReport: { key: report.key, sha256: report.sha256, size: report.size, datasetId: 'ds-1', split: 'test' } },
        });
        const found = await checkConsistency(lake.store, lake.catalog, { orphanLayers: ['models'] });
        assert.deepEqual(found.orphanObjects.map((o) => o.key), [stray.key]);
        assert.deepEqual(found.missingObjects, []);
      });

      it('finds orphans and missing objects, repairs after the grace period, and clears marks once fixed', async () => {
        const image = await seedCuratedImage(lake, { captions: [{ text: 'x' }] });
        const ds = await snapshotDataset(lake, { name: 'c', now: clock.now });
        const orphan = await putContent(lake.store, 'bronze', randomBytes(100));
        await lake.store.put(
          'gold/tables/dataset_items/dataset_id=x/items.parquet',
          Buffer.from('derived, not an orphan'),
        );
        await lake.store.put('models/scratch/tmp.bin', Buffer.from('models layer is not swept by default'));
        const gold = image.objects.gold;
        assert.ok(gold !== undefined);
        const goldBytes = await lake.store.get(gold.key);
        await lake.store.delete(gold.key);

        const report = await checkConsistency(lake.store, lake.catalog);
        assert.deepEqual(
          report.orphanObjects.map((o) => o.key),
          [orphan.key],
        );
        assert.deepEqual(report.missingObjects, [{ key: gold.key, owner: { kind: 'image', id: image.id } }]);
        assert.deepEqual(report.corruptObjects, []);
        assert.equal(report.checked.records, 2);
        assert.equal(report.checked.references, 4);
        assert.ok(report.checked.objects >= 5);

        // Within the grace period the orphan may be an in-flight write: left alone.
        const early = await repairConsistency(lake.store, lake.catalog, { graceMs: 3_600_000 });
        assert.deepEqual(early.deleted, []);
        assert.deepEqual(early.marked, [{ kind: 'image', id: image.id }]);
        assert.equal(await lake.store.exists(orphan.key), true);
        assert.deepEqual((await lake.catalog.images.get(image.id))?.integrity?.missingKeys, [gold.key]);

        const dry = await repairConsistency(lake.store, lake.catalog, {
          graceMs: 0,
          dryRun: true,
          now: () => new Date(Date.now() + 5000),
        });
        assert.deepEqual(dry.deleted, [orphan.key]);
        assert.equal(await lake.store.exists(orphan.key), true);

        const late = await repairConsistency(lake.store, lake.catalog, {
          graceMs: 0,
          now: () => new Date(Date.now() + 5000),
        });
        assert.deepEqual(late.deleted, [orphan.key]);
        assert.equal(await lake.store.exists(orphan.key), false);
        assert.equal(await lake.store.exists(ds.record.manifest.key), true);

        await lake.store.put(gold.key, goldBytes);
        const fixed = await repairConsistency(lake.store, lake.catalog, { graceMs: 0 });
        assert.deepEqual(fixed.cleared, [{ kind: 'image', id: image.id }]);
        assert.equal((await lake.catalog.images.get(image.id))?.integrity, null);
        const clean = await checkConsistency(lake.store, lake.catalog, { verifyContent: true });
        assert.deepEqual(
          [clean.orphanObjects.length, clean.missingObjects.length, clean.corruptObjects.length],
          [0, 0, 0],
        );
      });
    });
  });
}
