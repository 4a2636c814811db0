/**
 * The attributes an image arrived with (upload `metadata`, a capture's device facts, an import's
 * dataset fields, an external producer's `attributes` map), in the form the catalog keeps them.
 *
 * They live under the catalog attribute `ingest`, not at the top level, so a producer cannot
 * overwrite the attributes the pipeline itself owns (`augmentations`, review state). The catalog
 * only stores keys matching `[A-Za-z_][A-Za-z0-9_-]*` (MongoDB refuses `.` and `$`); an external
 * producer may send any string key, so keys outside that syntax are kept verbatim as
 * `{ key, value }` pairs under `ingestOther` rather than renamed or dropped.
 */
import type { JsonValue } from './canonical-json.ts';

const PORTABLE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Catalog attribute holding the portable ingest attributes. */
export const INGEST_ATTRIBUTE = 'ingest';
/** Catalog attribute holding ingest attributes whose keys the catalog cannot store as keys. */
export const INGEST_OTHER_ATTRIBUTE = 'ingestOther';

/** The catalog attributes of an ingested image's producer attributes (empty when it had none). */
export function ingestAttributes(attributes: Readonly<Record<string, string>>): Record<string, JsonValue> {
  const portable: Record<string, JsonValue> = {};
  const other: JsonValue[] = [];
  for (const key of Object.keys(attributes).sort()) {
    const value = attributes[key]!;
    if (PORTABLE_KEY.test(key)) portable[key] = value;
    else other.push({ key, value });
  }
  return {
    ...(Object.keys(portable).length > 0 ? { [INGEST_ATTRIBUTE]: portable } : {}),
    ...(other.length > 0 ? { [INGEST_OTHER_ATTRIBUTE]: other } : {}),
  };
}

/** The producer attributes an image record keeps, back as a flat string map (for gold tables and the query service). */
export function ingestAttributesOf(attributes: Readonly<Record<string, JsonValue>>): Record<string, string> {
  const out: Record<string, string> = {};
  const portable = attributes[INGEST_ATTRIBUTE];
  if (portable !== null && typeof portable === 'object' && !Array.isArray(portable))
    for (const [k, v] of Object.entries(portable)) if (typeof v === 'string') out[k] = v;
  const other = attributes[INGEST_OTHER_ATTRIBUTE];
  if (Array.isArray(other))
    for (const pair of other)
      if (
        pair !== null &&
        typeof pair === 'object' &&
        !Array.isArray(pair) &&
        typeof pair['key'] === 'string' &&
        typeof pair['value'] === 'string'
      )
        out[pair['key']] = pair['value'];
  return out;
}
