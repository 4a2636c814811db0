/**
 * Dataset versions: immutable, content-addressed snapshots of the curated (gold) images and their
 * captions. Training always reads a dataset version, never the live catalog, so a model can be
 * traced to exactly the bytes it was trained on and retrained on the same data.
 *
 * A version's id is `ds-` + the first 12 hex digits of the SHA-256 of its content (name and
 * items). Snapshotting twice with nothing new returns the same version, so a training trigger
 * that snapshots on a schedule does not produce spurious versions. The manifest is written to
 * the store (`manifests/<id>.json`) before the catalog record (object first, then catalog).
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { contentHash } from '../catalog/canonical-json.ts';
import type {
  CaptionOrigin,
  DatasetCounts,
  DatasetFilter,
  DatasetRecord,
  ImageRecord,
  Split,
} from '../catalog/catalog.ts';
import { iso } from '../catalog/merge-rules.ts';
import { datasetFilterSchema, nameSchema, validate } from '../catalog/record-schemas.ts';
import type { Lake } from './lake.ts';
import { sha256Hex } from './object-body.ts';
import type { ObjectRef } from './object-store.ts';

/** A caption as a dataset version carries it. */
export interface DatasetCaption {
  readonly id: string;
  readonly text: string;
  readonly origin: CaptionOrigin;
}

/** One image of a dataset version. */
export interface DatasetItem {
  readonly imageId: string;
  /** The gold object. */
  readonly key: string;
  readonly sha256: string;
  readonly size: number;
  readonly split: Split;
  readonly source: string;
  /** By id. */
  readonly captions: readonly DatasetCaption[];
  /**
   * Seeded augmentation variants of the image (silver objects written by normalize when
   * `CAPTIONFLOW_AUGMENT_VARIANTS` > 0), on train items only — validation and test stay the
   * originals, so no variant of an evaluated image is trained on. Absent when there are none.
   */
  readonly augmentations?: readonly DatasetAugmentation[];
}

/** One augmentation variant a dataset version trains on, as the catalog links it to its image. */
export interface DatasetAugmentation {
  readonly key: string;
  readonly sha256: string;
  readonly seed: string;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** The variants the catalog links to an image (attributes.augmentations), well-formed ones only. */
function augmentationsOf(image: ImageRecord): DatasetAugmentation[] {
  const raw = image.attributes['augmentations'];
  if (!Array.isArray(raw)) return [];
  const out: DatasetAugmentation[] = [];
  for (const v of raw) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
    const { key, sha256, seed } = v as Record<string, unknown>;
    if (typeof key === 'string' && key.startsWith('silver/') && typeof sha256 === 'string' && SHA256.test(sha256))
      out.push({ key, sha256, seed: typeof seed === 'string' ? seed : String(out.length) });
  }
  return out;
}

/** The manifest of a dataset version, as stored at `manifests/<id>.json`. */
export interface DatasetManifest {
  readonly formatVersion: 1;
  readonly id: string;
  readonly name: string;
  readonly parent: string | null;
  readonly filter: DatasetFilter;
  readonly includeMachineCaptions: boolean;
  readonly createdAt: string;
  /** The newest `curatedAt` among the items (null when empty). */
  readonly watermark: string | null;
  readonly counts: DatasetCounts;
  /** By image id. */
  readonly items: readonly DatasetItem[];
}

/** What to snapshot. */
export interface SnapshotRequest {
  readonly name: string;
  readonly filter?: DatasetFilter;
  /** Include machine-written captions (default false: human captions only). */
  readonly includeMachineCaptions?: boolean;
  /** The parent version; default the latest version of `name` (null for none). */
  readonly parent?: string | null;
  /** The clock (tests pin it). */
  readonly now?: () => Date;
}

/** The outcome of a snapshot. */
export interface SnapshotResult {
  readonly manifest: DatasetManifest;
  readonly record: DatasetRecord;
  /** False when a version with the same content already existed (it is returned instead). */
  readonly created: boolean;
  /** Curated images left out because they had no eligible caption. */
  readonly skippedWithoutCaptions: number;
}

/** The difference between two versions. */
export interface DatasetDiff {
  readonly from: string;
  readonly to: string;
  readonly added: readonly DatasetItem[];
  readonly removed: readonly DatasetItem[];
  /** Items in both whose object, split or captions differ. */
  readonly changed: readonly {
    readonly imageId: string;
    readonly before: DatasetItem;
    readonly after: DatasetItem;
    readonly fields: readonly string[];
  }[];
}

const PAGE = 500;

/** The key of a dataset version's manifest. */
export function manifestKey(id: string): string {
  return `manifests/${id}.json`;
}

function eligible(image: ImageRecord, filter: DatasetFilter): image is ImageRecord & { split: Split } {
  if (image.split === null || image.objects.gold === undefined) return false;
  if (filter.splits !== undefined && !filter.splits.includes(image.split)) return false;
  if (filter.sources !== undefined && !filter.sources.includes(image.source)) return false;
  if (filter.minQuality !== undefined && (image.quality === null || image.quality < filter.minQuality))
    return false;
  if (
    filter.curatedBefore !== undefined &&
    (image.curatedAt === null || image.curatedAt > iso(filter.curatedBefore))
  )
    return false;
  return true;
}

function countItems(items: readonly DatasetItem[]): DatasetCounts {
  const counts = { train: 0, val: 0, test: 0, total: items.length, captions: 0 };
  for (const item of items) {
    counts[item.split] += 1;
    counts.captions += item.captions.length;
  }
  return counts;
}

function parseManifest(id: string, bytes: Uint8Array): DatasetManifest {
  const manifest = JSON.parse(Buffer.from(bytes).toString('utf8')) as DatasetManifest;
  if (manifest.formatVersion !== 1 || manifest.id !== id) {
    throw new PipelineError(
      ErrorCodes.STORAGE_UNAVAILABLE,
      `manifest of ${id} is not a format-1 manifest of that version`,
      { context: { id } },
    );
  }
  return manifest;
}

/** Build (or find) the dataset version of the curated images matching `request.filter`. */
export async function snapshotDataset(lake: Lake, request: SnapshotRequest): Promise<SnapshotResult> {
  const { store, catalog } = lake;
  const filter = request.filter ?? {};
  validate(nameSchema, request.name, 'dataset name');
  validate(datasetFilterSchema, filter, 'dataset filter');
  const includeMachine = request.includeMachineCaptions ?? false;

  const items: DatasetItem[] = [];
  let watermark: string | null = null;
  let skipped = 0;
  let after: string | undefined;
  for (;;) {
    const page = await catalog.images.list(
      { status: 'curated' },
      { limit: PAGE, ...(after === undefined ? {} : { after }) },
    );
    const chosen = page.items.filter((image) => eligible(image, filter));
    const captions = await catalog.captions.byImages(chosen.map((i) => i.id));
    for (const image of chosen) {
      const gold = image.objects.gold as ObjectRef;
      const itemCaptions = (captions.get(image.id) ?? [])
        .filter((c) => includeMachine || c.origin === 'human')
        .map((c) => ({ id: c.id, text: c.text, origin: c.origin }));
      if (itemCaptions.length === 0) {
        skipped += 1;
        continue;
      }
      const augmentations = image.split === 'train' ? augmentationsOf(image) : [];
      items.push({
        imageId: image.id,
        key: gold.key,
        sha256: gold.sha256,
        size: gold.size,
        split: image.split,
        source: image.source,
        captions: itemCaptions,
        // Only when there are some: versions without augmentation keep their content ids.
        ...(augmentations.length > 0 ? { augmentations } : {}),
      });
      if (image.curatedAt !== null && (watermark === null || image.curatedAt > watermark))
        watermark = image.curatedAt;
    }
    if (page.next === null) break;
    after = page.next;
  }

  const id = `ds-${contentHash({ formatVersion: 1, name: request.name, items }).slice(0, 12)}`;
  const existing = await catalog.datasets.get(id);
  if (existing !== null) {
    const manifest = await getDataset(lake, id);
    if (manifest !== null)
      return { manifest, record: existing, created: false, skippedWithoutCaptions: skipped };
  }

  const key = manifestKey(id);
  let manifest: DatasetManifest;
  let ref: ObjectRef;
  const head = await store.head(key);
  if (head?.sha256 !== undefined) {
    // A previous attempt wrote the manifest and died before the catalog record: reuse it, so the
    // version keeps the creation time and parent it was first given.
    const bytes = await store.get(key);
    manifest = parseManifest(id, bytes);
    ref = {
      layer: 'manifests',
      bucket: store.location,
      key,
      sha256: sha256Hex(bytes),
      size: bytes.length,
      versionId: head.versionId,
    };
  } else {
    const parent =
      request.parent !== undefined
        ? request.parent
        : ((await catalog.datasets.latest(request.name))?.id ?? null);
    manifest = {
      formatVersion: 1,
      id,
      name: request.name,
      parent,
      filter,
      includeMachineCaptions: includeMachine,
      createdAt: iso((request.now ?? (() => new Date()))()),
      watermark,
      counts: countItems(items),
      items,
    };
    const put = await store.put(key, Buffer.from(JSON.stringify(manifest), 'utf8'), {
      contentType: 'application/json',
    });
    ref = {
      layer: 'manifests',
      bucket: store.location,
      key,
      sha256: put.sha256,
      size: put.size,
      versionId: put.versionId,
    };
  }
  const { record, created } = await catalog.datasets.put({
    id,
    name: manifest.name,
    parent: manifest.parent,
    filter: manifest.filter,
    includeMachineCaptions: manifest.includeMachineCaptions,
    counts: manifest.counts,
    manifest: ref,
    watermark: manifest.watermark,
    createdAt: manifest.createdAt,
  });
  return { manifest, record, created, skippedWithoutCaptions: skipped };
}

/** The manifest of dataset version `id`, verified against its recorded sha256; null if unknown. */
export async function getDataset(lake: Lake, id: string): Promise<DatasetManifest | null> {
  const record = await lake.catalog.datasets.get(id);
  if (record === null) return null;
  const bytes = await lake.store.get(record.manifest.key);
  const actual = sha256Hex(bytes);
  if (actual !== record.manifest.sha256) {
    throw new PipelineError(
      ErrorCodes.OBJECT_CHECKSUM_MISMATCH,
      `manifest of ${id} has sha256 ${actual}, catalog says ${record.manifest.sha256}`,
      {
        context: { id, key: record.manifest.key, expected: record.manifest.sha256, actual },
      },
    );
  }
  return parseManifest(id, bytes);
}

async function load(lake: Lake, version: string | DatasetManifest): Promise<DatasetManifest> {
  if (typeof version !== 'string') return version;
  const manifest = await getDataset(lake, version);
  if (manifest === null) {
    throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `dataset version ${version} not found`, {
      context: { id: version },
    });
  }
  return manifest;
}

/** What changed from version `a` to version `b` (ids or manifests). */
export async function diffDatasets(
  lake: Lake,
  a: string | DatasetManifest,
  b: string | DatasetManifest,
): Promise<DatasetDiff> {
  const [from, to] = await Promise.all([load(lake, a), load(lake, b)]);
  const before = new Map(from.items.map((i) => [i.imageId, i]));
  const after = new Map(to.items.map((i) => [i.imageId, i]));
  const added = to.items.filter((i) => !before.has(i.imageId));
  const removed = from.items.filter((i) => !after.has(i.imageId));
  const changed: DatasetDiff['changed'][number][] = [];
  for (const item of to.items) {
    const old = before.get(item.imageId);
    if (old === undefined) continue;
    const fields: string[] = [];
    if (old.key !== item.key || old.sha256 !== item.sha256 || old.size !== item.size) fields.push('object');
    if (old.split !== item.split) fields.push('split');
    if (contentHash(old.captions) !== contentHash(item.captions)) fields.push('captions');
    if (old.source !== item.source) fields.push('source');
    if (contentHash(old.augmentations ?? []) !== contentHash(item.augmentations ?? [])) fields.push('augmentations');
    if (fields.length > 0) changed.push({ imageId: item.imageId, before: old, after: item, fields });
  }
  return { from: from.id, to: to.id, added, removed, changed };
}

/**
 * Curated images that a new snapshot with the filter of version `id` would add to it: what a
 * training trigger weighs against its threshold. Exact (a set difference, not a timestamp comparison), so an image whose
 * curation committed late is never missed. Returns the count and up to `sampleSize` ids.
 */
export async function curatedSinceDataset(
  lake: Lake,
  id: string,
  sampleSize = 100,
): Promise<{ count: number; sample: string[] }> {
  const manifest = await load(lake, id);
  const known = new Set(manifest.items.map((i) => i.imageId));
  let count = 0;
  const sample: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await lake.catalog.images.list(
      { status: 'curated' },
      { limit: 1000, ...(after === undefined ? {} : { after }) },
    );
    const candidates = page.items.filter((image) => !known.has(image.id) && eligible(image, manifest.filter));
    const captions = await lake.catalog.captions.byImages(candidates.map((i) => i.id));
    for (const image of candidates) {
      // Same rule as the snapshot: an image without an eligible caption would not be taken.
      const usable = (captions.get(image.id) ?? []).some(
        (c) => manifest.includeMachineCaptions || c.origin === 'human',
      );
      if (!usable) continue;
      count += 1;
      if (sample.length < sampleSize) sample.push(image.id);
    }
    if (page.next === null) break;
    after = page.next;
  }
  return { count, sample };
}
