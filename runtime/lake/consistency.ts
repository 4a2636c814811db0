/**
 * Consistency between the object store and the catalog, and its repair.
 *
 * - An orphan object is one no catalog record points at. The write order (object first, then the
 *   catalog) makes orphans the normal debris of a crash, and also what an in-flight write looks
 *   like for a moment: so repair deletes only orphans older than a grace period.
 * - A missing object is one a catalog record points at but the store does not have. The write
 *   order should make this impossible; when it happens (a bucket restored from an old backup, a
 *   hand-deleted file) repair marks the record's `integrity` so consumers can skip it, and clears
 *   the mark once the object is back.
 */
import { PipelineError } from '../../schemas/errors.ts';
import type { Catalog, Integrity, ObjectRef } from '../catalog/catalog.ts';
import { iso } from '../catalog/merge-rules.ts';
import { evaluationReportRef } from './model-reports.ts';
import { sha256Hex } from './object-body.ts';
import { LAKE_LAYERS, type LakeLayer } from './object-keys.ts';
import type { ObjectListEntry, ObjectStore } from './object-store.ts';

/** Which record a reference belongs to. */
export interface RecordOwner {
  readonly kind: 'image' | 'dataset' | 'model';
  readonly id: string;
}

/** Options of {@link checkConsistency}. */
export interface ConsistencyOptions {
  /** Layers in which unreferenced objects count as orphans (default bronze, silver, gold, manifests). */
  readonly orphanLayers?: readonly LakeLayer[];
  /** Key prefixes never reported as orphans: derived files nobody records (default `gold/tables/`). */
  readonly ignorePrefixes?: readonly string[];
  /** Also read every referenced object and compare its sha256 (slow: reads the whole lake). */
  readonly verifyContent?: boolean;
}

/** The result of a check. */
export interface ConsistencyReport {
  readonly orphanObjects: readonly ObjectListEntry[];
  readonly missingObjects: readonly { readonly key: string; readonly owner: RecordOwner }[];
  /** Referenced objects whose size (or, with verifyContent, sha256) differs from the record. */
  readonly corruptObjects: readonly {
    readonly key: string;
    readonly owner: RecordOwner;
    readonly reason: string;
  }[];
  readonly checked: { readonly objects: number; readonly records: number; readonly references: number };
}

/** Options of {@link repairConsistency}. */
export interface RepairOptions extends ConsistencyOptions {
  /** Orphans younger than this are left alone, in ms (default 24 h). */
  readonly graceMs?: number;
  /** Report what would be done, do nothing. */
  readonly dryRun?: boolean;
  /** The clock (tests pin it). */
  readonly now?: () => Date;
}

/** The result of a repair. */
export interface RepairResult {
  readonly report: ConsistencyReport;
  /** Orphans deleted (or, in a dry run, that would be). */
  readonly deleted: readonly string[];
  /** Records marked with missing objects. */
  readonly marked: readonly RecordOwner[];
  /** Records whose earlier mark was cleared. */
  readonly cleared: readonly RecordOwner[];
  /** Temporary files / incomplete uploads removed. */
  readonly sweptIncomplete: number;
}

interface ScannedRecord {
  readonly owner: RecordOwner;
  readonly integrity: Integrity | null;
  readonly refs: readonly ObjectRef[];
}

async function* scanRecords(catalog: Catalog): AsyncGenerator<ScannedRecord> {
  let after: string | undefined;
  do {
    const page = await catalog.images.list({}, { limit: 1000, ...(after === undefined ? {} : { after }) });
    for (const image of page.items) {
      // The lineage lists every object the pipeline wrote for the image, thumbnails included
      // (`objects` holds one per layer): without it every thumbnail counted as an orphan, and
      // the lake-consistency job deleted thumbnails once they were past the grace period.
      const byKey = new Map<string, ObjectRef>();
      for (const r of [...(image.lineage?.objects ?? []), ...Object.values(image.objects)]) if (r !== undefined) byKey.set(r.key, r);
      yield { owner: { kind: 'image', id: image.id }, integrity: image.integrity, refs: [...byKey.values()] };
    }
    after = page.next ?? undefined;
  } while (after !== undefined);
  do {
    const page = await catalog.datasets.list({ limit: 1000, ...(after === undefined ? {} : { after }) });
    for (const ds of page.items)
      yield { owner: { kind: 'dataset', id: ds.id }, integrity: ds.integrity, refs: [ds.manifest] };
    after = page.next ?? undefined;
  } while (after !== undefined);
  do {
    const page = await catalog.models.list({ limit: 1000, ...(after === undefined ? {} : { after }) });
    for (const model of page.items) {
      const report = evaluationReportRef(model);
      yield { owner: { kind: 'model', id: model.id }, integrity: model.integrity, refs: report === null ? model.artifacts : [...model.artifacts, report] };
    }
    after = page.next ?? undefined;
  } while (after !== undefined);
}

interface FlaggedRecord {
  readonly owner: RecordOwner;
  readonly integrity: Integrity | null;
  readonly missingKeys: readonly string[];
}

async function check(
  store: ObjectStore,
  catalog: Catalog,
  options: ConsistencyOptions,
): Promise<{ report: ConsistencyReport; records: FlaggedRecord[] }> {
  // List first, then scan the catalog: a record written after the listing points at an object
  // put before it (object first), so it is either listed or re-checked below.
  const listed = new Map<string, ObjectListEntry>();
  for (const layer of LAKE_LAYERS)
    for await (const entry of store.list(`${layer}/`, { recursive: true })) listed.set(entry.key, entry);

  const referenced = new Set<string>();
  const missing: { key: string; owner: RecordOwner }[] = [];
  const corrupt: { key: string; owner: RecordOwner; reason: string }[] = [];
  // Records to mark or unmark: with missing objects now, or marked by an earlier repair.
  const flagged: FlaggedRecord[] = [];
  let records = 0;
  let references = 0;
  for await (const record of scanRecords(catalog)) {
    records += 1;
    const missingKeys: string[] = [];
    for (const ref of record.refs) {
      references += 1;
      referenced.add(ref.key);
      const entry = listed.get(ref.key);
      // Not in the listing: look again, it may have been written after the listing passed it.
      let present = entry !== undefined;
      if (!present) {
        try {
          present = await store.exists(ref.key);
        } catch (err) {
          if (!(err instanceof PipelineError) || err.retriable) throw err;
          corrupt.push({ key: ref.key, owner: record.owner, reason: err.message });
          continue;
        }
      }
      if (!present) {
        missing.push({ key: ref.key, owner: record.owner });
        missingKeys.push(ref.key);
        continue;
      }
      if (entry !== undefined && entry.size !== ref.size)
        corrupt.push({
          key: ref.key,
          owner: record.owner,
          reason: `size ${entry.size}, record says ${ref.size}`,
        });
      else if (options.verifyContent === true) {
        const actual = sha256Hex(await store.get(ref.key));
        if (actual !== ref.sha256)
          corrupt.push({
            key: ref.key,
            owner: record.owner,
            reason: `sha256 ${actual}, record says ${ref.sha256}`,
          });
      }
    }
    if (missingKeys.length > 0 || record.integrity !== null)
      flagged.push({ owner: record.owner, integrity: record.integrity, missingKeys });
  }

  const orphanLayers = new Set<string>(options.orphanLayers ?? ['bronze', 'silver', 'gold', 'manifests']);
  const ignore = options.ignorePrefixes ?? ['gold/tables/'];
  const orphans = [...listed.values()].filter(
    (e) =>
      !referenced.has(e.key) &&
      orphanLayers.has(e.key.slice(0, e.key.indexOf('/'))) &&
      !ignore.some((p) => e.key.startsWith(p)),
  );
  return {
    report: {
      orphanObjects: orphans,
      missingObjects: missing,
      corruptObjects: corrupt,
      checked: { objects: listed.size, records, references },
    },
    records: flagged,
  };
}

/** Compare the store with the catalog; changes nothing. */
export async function checkConsistency(
  store: ObjectStore,
  catalog: Catalog,
  options: ConsistencyOptions = {},
): Promise<ConsistencyReport> {
  return (await check(store, catalog, options)).report;
}

/**
 * Check, then: delete orphans older than the grace period, mark records whose objects are
 * missing (and clear marks that no longer hold), and sweep unfinished writes older than the
 * grace period.
 */
export async function repairConsistency(
  store: ObjectStore,
  catalog: Catalog,
  options: RepairOptions = {},
): Promise<RepairResult> {
  const now = (options.now ?? (() => new Date()))();
  const graceMs = options.graceMs ?? 24 * 3600 * 1000;
  const cutoff = new Date(now.getTime() - graceMs);
  const { report, records } = await check(store, catalog, options);
  const dryRun = options.dryRun ?? false;

  const deleted: string[] = [];
  for (const orphan of report.orphanObjects) {
    if (orphan.lastModified >= cutoff) continue;
    if (!dryRun) {
      // Look once more: a put of the same bytes refreshes the object, and its record may follow.
      const head = await store.head(orphan.key);
      if (head === null || head.lastModified >= cutoff) continue;
      await store.delete(orphan.key);
    }
    deleted.push(orphan.key);
  }

  const marked: RecordOwner[] = [];
  const cleared: RecordOwner[] = [];
  for (const record of records) {
    const missingKeys = [...record.missingKeys].sort();
    const integrity: Integrity | null =
      missingKeys.length === 0 ? null : { missingKeys, checkedAt: iso(now) };
    if (integrity === null && record.integrity === null) continue;
    if (!dryRun) {
      const { kind, id } = record.owner;
      if (kind === 'image') await catalog.images.setIntegrity(id, integrity);
      else if (kind === 'dataset') await catalog.datasets.setIntegrity(id, integrity);
      else await catalog.models.setIntegrity(id, integrity);
    }
    (integrity === null ? cleared : marked).push(record.owner);
  }

  const sweptIncomplete = dryRun ? 0 : await store.sweepIncomplete(cutoff);
  return { report, deleted, marked, cleared, sweptIncomplete };
}
