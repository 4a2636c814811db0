import type { Catalog, ObjectRef as CatalogObjectRef } from '../runtime/catalog/catalog.ts';
import type { ObjectStore, PutResult } from '../runtime/lake/object-store.ts';
import type { NormalizeOptions } from '../processors/image/normalize-options.ts';
import type { CaptionNormalizer } from '../processors/text/normalize-caption.ts';
import type { DomainVerdict, QualityGateOptions } from '../processors/curate/quality-gate.ts';
import type { SplitRatios } from '../processors/curate/split.ts';
import type { NearDuplicates } from './near-duplicates.ts';
import type { Lineage, LineageHop, ObjectRef } from '../schemas/generated/types.ts';
import type { StepContext } from '../runtime/engine/topology.ts';

/** Curation settings. */
export interface CurateSettings {
  readonly quality: QualityGateOptions;
  readonly split: SplitRatios;
  /** pHash Hamming distance at or below which two images are near-duplicate candidates. */
  readonly nearDuplicateDistance: number;
  /** Colour-signature distance (0..1) at or below which a candidate is confirmed as a duplicate. */
  readonly maxColourDistance: number;
}

/** What the lake topologies' steps (normalize, curate, label) use: `ctx.deps`. */
export type LakeDeps = {
  readonly objects: ObjectStore;
  readonly catalog: Catalog;
  /** Bucket (S3) or root name (fs) written into object refs. */
  readonly bucket: string;
  readonly normalize: NormalizeOptions;
  /** Seeded training augmentation of silver images: variants per image, 0 disables it. */
  readonly augment: { readonly count: number; readonly seed: number };
  readonly captions: CaptionNormalizer;
  readonly curate: CurateSettings;
  /** Near-duplicate judging over the catalog's shared state store (every replica sees the same state). */
  readonly dedup: NearDuplicates;
  /**
   * The champion's domain gate for curation (`processing.rejectOutOfDomain`): its verdict on a
   * model input, or null when no model (or no gate) exists yet. Absent: curation does not ask.
   */
  readonly domainGate?: (image: Uint8Array) => Promise<DomainVerdict | null>;
};

/** The Avro object ref of a stored object. */
export function objectRef(layer: ObjectRef['layer'], bucket: string, put: PutResult, contentType: string | null): ObjectRef {
  return { layer, bucket, key: put.key, sha256: put.sha256, size: put.size, contentType, versionId: put.versionId };
}

/** The catalog's form of an object ref. */
export function catalogRef(ref: ObjectRef): CatalogObjectRef {
  return { layer: ref.layer, bucket: ref.bucket, key: ref.key, sha256: ref.sha256, size: ref.size, versionId: ref.versionId };
}

/** The lineage hop of the record a step is working on. */
export function hopOf(ctx: StepContext<unknown>, processingVersion: string): LineageHop {
  return {
    topology: ctx.topology,
    sourceTopic: ctx.record.topic,
    partition: ctx.record.partition,
    offset: Number(ctx.record.offset),
    schemaId: ctx.record.schemaId,
    processingVersion,
    at: ctx.clock.now(),
  };
}

/** Extend a lineage with a hop and new objects; idempotent for a replayed hop. */
export function extendLineage(lineage: Lineage, hop: LineageHop, objects: readonly ObjectRef[]): Lineage {
  const sameHop = (h: LineageHop): boolean => h.topology === hop.topology && h.sourceTopic === hop.sourceTopic && h.partition === hop.partition && h.offset === hop.offset;
  const hops = lineage.hops.some(sameHop) ? lineage.hops : [...lineage.hops, hop];
  const known = new Set(lineage.objects.map((o) => o.key));
  return { ...lineage, hops, objects: [...lineage.objects, ...objects.filter((o) => !known.has(o.key))] };
}

/** The catalog's form of a lineage (ISO times, string offsets). */
export function catalogLineage(lineage: Lineage): NonNullable<Parameters<Catalog['images']['upsert']>[0]['lineage']> {
  return {
    ingestEventId: lineage.ingestEventId,
    source: lineage.source,
    hops: lineage.hops.map((h) => ({ ...h, offset: String(h.offset), at: new Date(h.at).toISOString() })),
    objects: lineage.objects.map(catalogRef),
  };
}

/** The file extension of a MIME type used in object keys. */
export function extensionOf(mime: string): string {
  const ext: Record<string, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp', 'image/gif': 'gif', 'image/tiff': 'tiff', 'image/avif': 'avif', 'image/heif': 'heif' };
  return ext[mime] ?? 'bin';
}
