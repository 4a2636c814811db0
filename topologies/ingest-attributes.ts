/** The catalog write of an image as it arrived (see runtime/catalog/ingest-attributes.ts for the attribute layout). */
import type { ImageIngested } from '../schemas/generated/types.ts';
import type { ImageUpsert } from '../runtime/catalog/catalog.ts';
import { ingestAttributes } from '../runtime/catalog/ingest-attributes.ts';
import { catalogLineage, catalogRef } from './lake-services.ts';

/** The catalog write of an image.ingested event: the bronze record, its lineage start and its producer attributes. */
export function ingestedImageUpsert(ingested: ImageIngested): ImageUpsert {
  return {
    id: ingested.imageId,
    source: ingested.lineage.source,
    layer: 'bronze',
    status: 'ingested',
    objects: { bronze: catalogRef(ingested.object) },
    lineage: catalogLineage(ingested.lineage),
    attributes: ingestAttributes(ingested.attributes),
  };
}
