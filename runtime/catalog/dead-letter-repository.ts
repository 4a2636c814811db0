/**
 * The dead-letter index: every dead letter the topologies wrote, as the catalog keeps it for
 * listing, inspection and replay (the `dead-letter` topic stays the source of truth; the index is
 * rebuilt by re-reading it). Written once over the {@link DocumentStore} like the other
 * repositories.
 *
 * Two collections, both insert-only with ids from their content, so replays of the index write
 * nothing:
 * - `dead_letters` (id = the dead letter's event id): the failure and the original record, bytes
 *   base64. Its `replayedAt` field is bookkeeping set by {@link DeadLetterRepository.markReplayed}
 *   (not content: it moves neither rev nor hash), so "open" dead letters are one indexed query.
 * - `dead_letter_replays` (id = the dead letter's id): who replayed it, when, and where the
 *   original record went back to. Keyed by dead-letter id, a letter is replayed once; a replayed
 *   record that fails again is a new dead letter (it has a new offset, hence a new id).
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { canonicalJson, contentHash, type JsonValue } from './canonical-json.ts';
import type { DocumentCollection, FindQuery } from './document-store.ts';

// Not merge-rules' iso: catalog.ts imports this module's types and merge-rules imports catalog.ts.
function iso(time: string | Date): string {
  return (typeof time === 'string' ? new Date(time) : time).toISOString();
}

/** The collections of the dead-letter index and the fields each one is queried by. */
export const DEAD_LETTER_COLLECTIONS = {
  letters: {
    name: 'dead_letters',
    indexes: [
      ['replayedAt', 'lastFailureAt'],
      ['errorCode', 'lastFailureAt'],
      ['originalTopic'],
      ['imageKey'],
    ],
  },
  replays: { name: 'dead_letter_replays', indexes: [] },
} as const;

/** A dead letter as the catalog keeps it. */
export interface DeadLetterEntry {
  /** The dead letter's event id. */
  readonly id: string;
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly retriable: boolean;
  /** The error's context as JSON text, or null. */
  readonly errorContext: string | null;
  readonly topology: string;
  readonly step: string;
  readonly attempts: number;
  readonly firstFailureAt: string;
  readonly lastFailureAt: string;
  readonly originalTopic: string;
  readonly originalPartition: number;
  readonly originalOffset: string;
  /** The original key, base64 (null when it had none). */
  readonly originalKey: string | null;
  /** The original key as UTF-8 text when it is one (image topics are keyed by image id): what item look-ups use. */
  readonly imageKey: string | null;
  /** The original value, base64 (null for a tombstone). */
  readonly originalValue: string | null;
  /** The original headers, values base64 (a list: header names need not be valid field names). */
  readonly originalHeaders: readonly { readonly key: string; readonly value: string }[];
  readonly originalTimestamp: string | null;
  /** Set when the letter was replayed (see {@link DeadLetterReplay}). */
  readonly replayedAt: string | null;
  readonly recordedAt: string;
}

/** A replay of a dead letter. */
export interface DeadLetterReplay {
  /** The dead letter's id. */
  readonly id: string;
  readonly at: string;
  /** Who asked (API key fingerprint, `cli`…). */
  readonly by: string;
  /** Where the original record was produced again. */
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** Which dead letters to list; all given conditions hold. */
export interface DeadLetterQuery {
  readonly code?: string;
  readonly topic?: string;
  readonly topology?: string;
  /** The original key (the image id on image topics). */
  readonly imageKey?: string;
  /** Last failure at or after (ISO). */
  readonly from?: string;
  /** Last failure before (ISO). */
  readonly to?: string;
  /** `open` (default): not replayed; `replayed`; `all`. */
  readonly state?: 'open' | 'replayed' | 'all';
}

/** Dead letters. */
export interface DeadLetterRepository {
  /** Enter a dead letter; false when it was entered before (nothing is written). */
  record(entry: Omit<DeadLetterEntry, 'replayedAt' | 'recordedAt'>): Promise<boolean>;
  get(id: string): Promise<DeadLetterEntry | null>;
  /** Newest failure first; `after` is the previous page's `next`. */
  list(
    query: DeadLetterQuery,
    page?: { after?: string; limit?: number },
  ): Promise<{ items: DeadLetterEntry[]; next: string | null }>;
  /** Counts of open dead letters per error code. */
  countOpenByCode(): Promise<Record<string, number>>;
  /** Record a replay; false when the letter was replayed before. */
  markReplayed(replay: DeadLetterReplay): Promise<boolean>;
  replayOf(id: string): Promise<DeadLetterReplay | null>;
}

function toDoc(record: object): Record<string, JsonValue> {
  return JSON.parse(canonicalJson(record)) as Record<string, JsonValue>;
}

function cursorOf(entry: DeadLetterEntry): string {
  return Buffer.from(JSON.stringify([entry.lastFailureAt, entry.id])).toString('base64url');
}

function parseCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string')
      return [v[0], v[1]];
  } catch {
    // fall through
  }
  throw new PipelineError(ErrorCodes.CATALOG_RECORD_INVALID, 'invalid dead-letter cursor', {
    context: { field: 'after' },
  });
}

/** The dead-letter index over its collections. */
export function deadLetterRepository(
  colls: { readonly letters: DocumentCollection; readonly replays: DocumentCollection },
  clock: () => Date,
): DeadLetterRepository {
  const { letters, replays } = colls;
  return {
    async record(entry) {
      const doc = toDoc({ ...entry, replayedAt: null, recordedAt: iso(clock()) });
      const { recordedAt: _r, replayedAt: _p, ...content } = doc;
      return letters.insert(entry.id, doc, contentHash(content));
    },
    async get(id) {
      const stored = await letters.get(id);
      return stored === null ? null : (stored.doc as unknown as DeadLetterEntry);
    },
    async list(query, page = {}) {
      const limit = page.limit ?? 100;
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new PipelineError(
          ErrorCodes.CATALOG_RECORD_INVALID,
          `page limit must be an integer from 1 to 1000, got ${limit}`,
          { context: { field: 'limit', value: limit } },
        );
      const state = query.state ?? 'open';
      const range: { gte?: string; lt?: string; lte?: string } = {};
      if (query.from !== undefined) range.gte = iso(query.from);
      if (query.to !== undefined) range.lt = iso(query.to);
      let skipUntil: [string, string] | null = null;
      if (page.after !== undefined) {
        skipUntil = parseCursor(page.after);
        // Newest first: the next page starts at or before the cursor's time (ties broken by id below).
        if (range.lt === undefined || skipUntil[0] < range.lt) {
          delete range.lt;
          range.lte = skipUntil[0];
        }
      }
      const where: NonNullable<FindQuery['where']> = {
        ...(state === 'open' ? { replayedAt: null } : {}),
        ...(query.code === undefined ? {} : { errorCode: query.code }),
        ...(query.topic === undefined ? {} : { originalTopic: query.topic }),
        ...(query.topology === undefined ? {} : { topology: query.topology }),
        ...(query.imageKey === undefined ? {} : { imageKey: query.imageKey }),
        ...(Object.keys(range).length === 0 ? {} : { lastFailureAt: range }),
      };
      const items: DeadLetterEntry[] = [];
      // Letters failing at the same millisecond as the cursor are skipped up to its id; a page
      // asks for more rows until it is full or the store has no more.
      let fetch = limit + 1;
      for (;;) {
        const rows = await letters.find({
          where,
          orderBy: [
            { field: 'lastFailureAt', dir: 'desc' },
            { field: 'id', dir: 'desc' },
          ],
          limit: fetch,
        });
        items.length = 0;
        for (const r of rows) {
          const e = r.doc as unknown as DeadLetterEntry;
          if (state === 'replayed' && e.replayedAt === null) continue;
          if (skipUntil !== null && e.lastFailureAt === skipUntil[0] && e.id >= skipUntil[1]) continue;
          items.push(e);
        }
        if (items.length > limit || rows.length < fetch) break;
        fetch *= 2;
      }
      const pageItems = items.slice(0, limit);
      return {
        items: pageItems,
        next: items.length > limit ? cursorOf(pageItems[pageItems.length - 1]!) : null,
      };
    },
    async countOpenByCode() {
      const out: Record<string, number> = {};
      for (const { value, count } of await letters.countBy('errorCode', { replayedAt: null }))
        out[String(value)] = count;
      return out;
    },
    async markReplayed(replay) {
      const doc = toDoc({ ...replay, at: iso(replay.at) });
      const inserted = await replays.insert(replay.id, doc, contentHash(doc));
      // Set even when the replay record existed: a crash between the two writes must not leave the letter open.
      await letters.setField(replay.id, 'replayedAt', doc['at'] as string);
      return inserted;
    },
    async replayOf(id) {
      const stored = await replays.get(id);
      return stored === null ? null : (stored.doc as unknown as DeadLetterReplay);
    },
  };
}
