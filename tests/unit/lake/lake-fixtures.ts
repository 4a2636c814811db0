/**
 * Shared helpers for the lake tests: a steppable clock, random images written the way the
 * topologies write them (object first, then the catalog record), and error assertions.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { CaptionOrigin, Catalog, ImageRecord, Split } from '../../../runtime/catalog/catalog.ts';
import type { Lake } from '../../../runtime/lake/lake.ts';
import { contentKey, type ObjectRef, type ObjectStore } from '../../../runtime/lake/object-store.ts';
import { PipelineError } from '../../../schemas/errors.ts';

/** A lake under test, with the function that removes everything it created. */
export interface LakeFixture extends Lake {
  cleanup(): Promise<void>;
}

/** Builds a fresh, empty lake for one test; `now` is the clock its catalog must use. */
export type LakeFactory = (options: { now: () => Date }) => Promise<LakeFixture>;

/** A clock that only moves when told to (one second per `tick` by default). */
export class SteppedClock {
  private ms: number;
  constructor(start = Date.parse('2026-01-01T00:00:00.000Z')) {
    this.ms = start;
  }
  /** The current time. */
  readonly now = (): Date => new Date(this.ms);
  /** Advance by `ms`. */
  tick(ms = 1000): void {
    this.ms += ms;
  }
}

/** Lowercase hex sha256. */
export function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Assert that `promise` rejects with a PipelineError of `code`. */
export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<PipelineError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof PipelineError, `expected a PipelineError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected rejection with ${code}`);
}

/** Assert that `fn` throws (synchronously or not) a PipelineError of `code`. */
export async function throwsWithCode(fn: () => unknown, code: string): Promise<void> {
  await rejectsWithCode(Promise.resolve().then(fn), code);
}

/** Put bytes under their content key in `layer` and return the reference a record would carry. */
export async function putContent(
  store: ObjectStore,
  layer: 'bronze' | 'silver' | 'gold',
  bytes: Uint8Array,
  ext = 'jpg',
): Promise<ObjectRef> {
  const key = contentKey(layer, sha(bytes), ext);
  const put = await store.put(key, bytes, { contentType: 'image/jpeg' });
  return { layer, bucket: store.location, key, sha256: put.sha256, size: put.size, versionId: put.versionId };
}

/** What {@link seedCuratedImage} writes. */
export interface SeedOptions {
  readonly split?: Split;
  readonly captions?: readonly { readonly text: string; readonly origin?: CaptionOrigin }[];
  readonly source?: string;
  readonly quality?: number;
  readonly curatedAt?: string;
  readonly bytes?: Uint8Array;
}

/** Ingest → normalize → curate one random image with captions, as the topologies would. */
export async function seedCuratedImage(
  lake: { store: ObjectStore; catalog: Catalog },
  options: SeedOptions = {},
): Promise<ImageRecord> {
  const { store, catalog } = lake;
  const original = options.bytes ?? randomBytes(256 + Math.floor(Math.random() * 512));
  const id = sha(original);
  const bronze = await putContent(store, 'bronze', original);
  await catalog.images.upsert({
    id,
    source: options.source ?? 'upload',
    layer: 'bronze',
    status: 'ingested',
    objects: { bronze },
    lineage: {
      ingestEventId: `evt-${id.slice(0, 8)}`,
      source: options.source ?? 'upload',
      hops: [
        {
          topology: 'ingest',
          sourceTopic: 'upload.received',
          partition: 0,
          offset: '1',
          schemaId: 1,
          processingVersion: 'ingest@1',
          at: '2026-01-01T00:00:00.000Z',
        },
      ],
      objects: [bronze],
    },
  });
  for (const c of options.captions ?? [{ text: `a picture ${id.slice(0, 6)}` }]) {
    await catalog.captions.upsert({ imageId: id, text: c.text, origin: c.origin ?? 'human' });
  }
  const silver = await putContent(store, 'silver', Buffer.concat([original, Buffer.from('silver')]));
  await catalog.images.upsert({
    id,
    layer: 'silver',
    status: 'normalized',
    objects: { silver },
    width: 64,
    height: 48,
    format: 'jpeg',
  });
  const gold = await putContent(store, 'gold', Buffer.concat([original, Buffer.from('gold')]));
  const { record } = await catalog.images.upsert({
    id,
    layer: 'gold',
    status: 'curated',
    split: options.split ?? 'train',
    objects: { gold },
    quality: options.quality ?? 0.9,
    dhash: 'ffee00112233aabb',
    ...(options.curatedAt === undefined ? {} : { curatedAt: options.curatedAt }),
    lineage: {
      hops: [
        {
          topology: 'curate',
          sourceTopic: 'image.normalized',
          partition: 1,
          offset: '7',
          schemaId: 3,
          processingVersion: 'curate@2',
          at: '2026-01-01T00:01:00.000Z',
        },
      ],
      objects: [gold],
    },
  });
  return record;
}

/** All keys a listing yields. */
export async function listKeys(store: ObjectStore, prefix: string, recursive = true): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of store.list(prefix, { recursive })) keys.push(entry.key);
  return keys;
}
