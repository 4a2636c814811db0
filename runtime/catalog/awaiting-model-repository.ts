/**
 * The records parked by labeling while no teacher model exists: a caption-less image that arrives
 * before the first champion is not an error but waits here (status `awaiting_model`) until a
 * `model.promoted` event replays it through labeling. Written once over the {@link DocumentStore}
 * like the other repositories, so SQLite and the MongoDB wire (FerretDB included) share it.
 *
 * One collection, `awaiting_model` (id = image id): the parked event as JSON, when it was parked
 * and its status. Parking is insert-if-absent (reliable on every backend, a replay writes
 * nothing). Labeling it is bookkeeping set with `setField` (as the dead-letter index marks
 * replays): the status moves to `labeled` and `resolution` says by which model and which source
 * record (`resumedBy`) — so the replay of a `model.promoted` record after a crash finds again the
 * images it had labeled before the crash and emits their events again, instead of losing them.
 */
import { canonicalJson, contentHash, type JsonValue } from './canonical-json.ts';
import type { DocumentCollection, StoredDocument } from './document-store.ts';

/** The collection of parked records and the fields it is queried by. */
export const AWAITING_MODEL_COLLECTIONS = {
  parked: { name: 'awaiting_model', indexes: [['status', 'parkedAt'], ['resolution.resumedBy']] },
} as const;

/** Where a parked record is: waiting for a model, or labeled once one arrived. */
export type AwaitingModelStatus = 'awaiting_model' | 'labeled';

/** How a parked record was resolved. */
export interface AwaitingModelResolution {
  /** The model version that labeled it. */
  readonly modelVersion: string;
  /** The source record that resumed it (`topic/partition/offset`), so a replay of it finds it again. */
  readonly resumedBy: string;
  /** ISO-8601. */
  readonly at: string;
}

/** A parked record. */
export interface AwaitingModelEntry {
  readonly imageId: string;
  /** The parked event (e.g. the image.normalized value), as JSON. */
  readonly event: JsonValue;
  /** ISO-8601. */
  readonly parkedAt: string;
  readonly status: AwaitingModelStatus;
  readonly resolution: AwaitingModelResolution | null;
}

/** The records labeling parked while no model existed. */
export interface AwaitingModelRepository {
  /** Park a record (insert-if-absent: a replay, or an image parked before, changes nothing); true when new. */
  park(imageId: string, event: JsonValue): Promise<boolean>;
  /**
   * The records to resume for the source record `resumedBy`: every record still awaiting a model,
   * plus those this same source record resolved before (a replay after a crash), oldest first.
   */
  toResume(resumedBy: string): Promise<AwaitingModelEntry[]>;
  /** Mark a record labeled (a no-op for an image that was never parked). */
  resolve(imageId: string, resolution: Omit<AwaitingModelResolution, 'at'>): Promise<void>;
  get(imageId: string): Promise<AwaitingModelEntry | null>;
  /** How many records wait for a model. */
  countAwaiting(): Promise<number>;
}

function entryOf(stored: StoredDocument): AwaitingModelEntry {
  const d = stored.doc as unknown as AwaitingModelEntry;
  return {
    imageId: stored.id,
    event: d.event,
    parkedAt: d.parkedAt,
    status: d.status,
    resolution: d.resolution ?? null,
  };
}

/** The repository over its collection; `clock` stamps `parkedAt` and resolutions. */
export function awaitingModelRepository(
  parked: DocumentCollection,
  clock: () => Date,
): AwaitingModelRepository {
  return {
    async park(imageId, event) {
      const doc = JSON.parse(
        canonicalJson({
          id: imageId,
          event,
          parkedAt: clock().toISOString(),
          status: 'awaiting_model',
          resolution: null,
        }),
      ) as Record<string, JsonValue>;
      return parked.insert(imageId, doc, contentHash(doc));
    },
    async toResume(resumedBy) {
      const [waiting, again] = await Promise.all([
        parked.find({ where: { status: 'awaiting_model' }, orderBy: [{ field: 'parkedAt', dir: 'asc' }] }),
        parked.find({
          where: { 'resolution.resumedBy': resumedBy },
          orderBy: [{ field: 'parkedAt', dir: 'asc' }],
        }),
      ]);
      const seen = new Set<string>();
      return [...again, ...waiting]
        .map(entryOf)
        .filter((e) => !seen.has(e.imageId) && seen.add(e.imageId) !== undefined)
        .sort((a, b) => a.parkedAt.localeCompare(b.parkedAt) || a.imageId.localeCompare(b.imageId));
    },
    async resolve(imageId, resolution) {
      // The resolution before the status: a crash between the two leaves the record awaiting (resumed again), never labeled without its resolution.
      await parked.setField(imageId, 'resolution', { ...resolution, at: clock().toISOString() });
      await parked.setField(imageId, 'status', 'labeled');
    },
    async get(imageId) {
      const stored = await parked.get(imageId);
      return stored === null ? null : entryOf(stored);
    },
    countAwaiting() {
      return parked.count({ status: 'awaiting_model' });
    },
  };
}
