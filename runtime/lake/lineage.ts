/**
 * Lineage queries: from an image or caption id back to the bronze bytes it came from, the event
 * offsets and schema ids it was read at, and the processing versions that touched it.
 *
 * The lineage itself is written by the topologies onto catalog records (the `lineage` field of
 * image and caption upserts); this module only gathers it into one answer.
 */
import type { Catalog, Lineage, LineageHop } from '../catalog/catalog.ts';
import { isCaptionId } from '../catalog/caption-id.ts';
import type { ObjectRef } from './object-store.ts';

/** Everything known about where an image or caption came from. */
export interface LineageReport {
  readonly subject: { readonly kind: 'image' | 'caption'; readonly id: string };
  readonly imageId: string;
  /** The image's lineage as the topologies wrote it. */
  readonly lineage: Lineage | null;
  /** The caption's own lineage, when the subject is a caption. */
  readonly captionLineage: Lineage | null;
  /** The original bytes. */
  readonly bronze: ObjectRef | null;
  /** Every object of the image (all layers), by layer then key. */
  readonly objects: readonly ObjectRef[];
  /** Every hop (image and caption), in time order. */
  readonly hops: readonly LineageHop[];
}

const LAYER_ORDER: Record<string, number> = { bronze: 0, silver: 1, gold: 2, models: 3, manifests: 4 };

/** The lineage of an image (sha256 id) or a caption (`cap-…` id); null when the catalog does not know it. */
export async function lineageOf(catalog: Catalog, id: string): Promise<LineageReport | null> {
  let imageId = id;
  let captionLineage: Lineage | null = null;
  let kind: 'image' | 'caption' = 'image';
  if (isCaptionId(id)) {
    const caption = await catalog.captions.get(id);
    if (caption === null) return null;
    kind = 'caption';
    imageId = caption.imageId;
    captionLineage = caption.lineage;
  }
  const image = await catalog.images.get(imageId);
  if (image === null && kind === 'image') return null;
  const lineage = image?.lineage ?? null;

  const objects = new Map<string, ObjectRef>();
  for (const ref of [...(lineage?.objects ?? []), ...Object.values(image?.objects ?? {})]) {
    if (ref !== undefined) objects.set(`${ref.layer}\u0000${ref.key}`, ref);
  }
  const sortedObjects = [...objects.values()].sort(
    (a, b) =>
      (LAYER_ORDER[a.layer] ?? 9) - (LAYER_ORDER[b.layer] ?? 9) ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
  const hops = [...(lineage?.hops ?? []), ...(captionLineage?.hops ?? [])].sort((a, b) =>
    a.at < b.at ? -1 : a.at > b.at ? 1 : 0,
  );
  return {
    subject: { kind, id },
    imageId,
    lineage,
    captionLineage,
    bronze: image?.objects.bronze ?? sortedObjects.find((o) => o.layer === 'bronze') ?? null,
    objects: sortedObjects,
    hops,
  };
}
