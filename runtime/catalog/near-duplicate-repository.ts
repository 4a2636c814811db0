/**
 * The near-duplicate state store, written once against the {@link DocumentStore} interface like
 * the other repositories, so SQLite and the MongoDB wire (FerretDB included) share it.
 *
 * Three collections, all insert-only with ids derived from their content:
 * - `near_duplicate_members` (id = image id): a gate-passed image, its pHash, ingest time, silver
 *   key and the judge's opaque facts. Insert-if-absent: the first write wins, so the ingest time
 *   every judge ranks an image by never changes after it was first entered.
 * - `near_duplicate_bands` (id = hash of radius, band, value, image id), indexed by `key` =
 *   `<radius>:<band>:<value>`: the r + 1 band entries of each member. A look-up is one `in`
 *   query on the r + 1 keys of the queried hash (one round trip for the r + 1 equality look-ups).
 *   The radius is part of the key: a changed `nearDuplicateDistance` starts a fresh layout.
 * - `near_duplicate_supersessions` (id = hash of image id and superseding id), indexed by image
 *   id: the recorded verdicts "X is a near-duplicate of the earlier Y".
 * Inserts are reliable on every backend (FerretDB's compare-and-set is not, see README.md), and
 * an insert of an existing id is a no-op — which is what makes replays write nothing.
 */
import { createHash } from 'node:crypto';
import { bandsOf, hammingDistance } from '../../processors/curate/phash-bands.ts';
import { compareSurvivor } from '../../processors/curate/survivor-rule.ts';
import { canonicalJson, contentHash, type JsonValue } from './canonical-json.ts';
import type {
  NearDuplicateCandidate,
  NearDuplicateMember,
  NearDuplicateRegistration,
  NearDuplicateRepository,
  Supersession,
} from './catalog.ts';
import type { DocumentCollection, StoredDocument } from './document-store.ts';
import { iso } from './merge-rules.ts';
import { nearDuplicateMemberSchema, radiusSchema, supersessionSchema, validate } from './record-schemas.ts';

/** The collections of the near-duplicate store and the fields each one is queried by. */
export const NEAR_DUPLICATE_COLLECTIONS = {
  members: { name: 'near_duplicate_members', indexes: [] },
  bands: { name: 'near_duplicate_bands', indexes: [['key']] },
  supersessions: { name: 'near_duplicate_supersessions', indexes: [['imageId']] },
} as const;

/** The collections the repository works on. */
export interface NearDuplicateCollections {
  readonly members: DocumentCollection;
  readonly bands: DocumentCollection;
  readonly supersessions: DocumentCollection;
}

interface BandDoc {
  readonly id: string;
  readonly key: string;
  readonly imageId: string;
  readonly pHash: string;
  readonly ingestedAt: string;
  readonly silverKey: string;
}

function digest(...parts: readonly (string | number)[]): string {
  return createHash('sha256').update(parts.map(String).join('\n')).digest('hex');
}

function toDoc(record: object): Record<string, JsonValue> {
  return JSON.parse(canonicalJson(record)) as Record<string, JsonValue>;
}

function fromDoc<T>(stored: StoredDocument): T {
  return stored.doc as unknown as T;
}

function bandKey(radius: number, band: number, value: string): string {
  return `${radius}:${band}:${value}`;
}

/** A member without the document id the store keeps beside it. */
function memberOf(m: NearDuplicateMember): NearDuplicateMember {
  return {
    imageId: m.imageId,
    pHash: m.pHash,
    ingestedAt: m.ingestedAt,
    silverKey: m.silverKey,
    facts: m.facts,
    createdAt: m.createdAt,
  };
}

/** Insert unless present; either way the stored document. */
async function insertOnce<T>(coll: DocumentCollection, id: string, record: object): Promise<T> {
  const doc = toDoc(record);
  if (await coll.insert(id, doc, contentHash(doc))) return doc as unknown as T;
  const stored = await coll.get(id);
  // Inserts are never undone, so a refused insert means the document is there.
  return stored === null ? (doc as unknown as T) : fromDoc<T>(stored);
}

/** The repository over its three collections; `clock` stamps `createdAt`. */
export function nearDuplicateRepository(
  colls: NearDuplicateCollections,
  clock: () => Date,
): NearDuplicateRepository {
  const { members, bands, supersessions } = colls;
  return {
    async register(member: NearDuplicateRegistration, radius: number) {
      validate(nearDuplicateMemberSchema, member, 'near-duplicate member');
      validate(radiusSchema, radius, 'near-duplicate radius');
      // The member first: whoever finds a band entry can read the member it points to.
      const stored = await insertOnce<NearDuplicateMember>(members, member.imageId, {
        id: member.imageId,
        ...member,
        ingestedAt: iso(member.ingestedAt),
        createdAt: iso(clock()),
      });
      // Band entries carry the stored member's facts, not this call's: a replay with a later
      // ingest time must not enter the image under two ranks. All of them in one round trip;
      // a replay after a crash between two of them inserts the missing ones.
      const entries = bandsOf(stored.pHash, radius).map(({ band, value }) => {
        const id = `ndb-${digest(radius, band, value, stored.imageId)}`;
        const doc = toDoc({
          id,
          key: bandKey(radius, band, value),
          imageId: stored.imageId,
          pHash: stored.pHash,
          ingestedAt: stored.ingestedAt,
          silverKey: stored.silverKey,
        } satisfies BandDoc);
        return { id, doc, hash: contentHash(doc) };
      });
      await bands.insertMany(entries);
      return memberOf(stored);
    },
    async within(pHash: string, radius: number) {
      validate(radiusSchema, radius, 'near-duplicate radius');
      const keys = bandsOf(pHash, radius).map(({ band, value }) => bandKey(radius, band, value));
      const rows = await bands.find({ where: { key: { in: keys } } });
      const found = new Map<string, NearDuplicateCandidate>();
      for (const row of rows) {
        const b = fromDoc<BandDoc>(row);
        if (found.has(b.imageId)) continue; // a near hash agrees on several bands
        const distance = hammingDistance(pHash, b.pHash);
        if (distance <= radius)
          found.set(b.imageId, {
            imageId: b.imageId,
            pHash: b.pHash,
            ingestedAt: b.ingestedAt,
            silverKey: b.silverKey,
            distance,
          });
      }
      return [...found.values()].sort((a, b) => a.distance - b.distance || compareSurvivor(a, b));
    },
    async member(imageId: string) {
      const stored = await members.get(imageId);
      return stored === null ? null : memberOf(fromDoc<NearDuplicateMember>(stored));
    },
    async members(imageIds: readonly string[]) {
      const rows = await members.getMany(imageIds);
      const byId = new Map(rows.map((r) => [r.id, memberOf(fromDoc<NearDuplicateMember>(r))]));
      return imageIds.flatMap((id) => byId.get(id) ?? []);
    },
    async supersede(s: Omit<Supersession, 'createdAt'>) {
      validate(supersessionSchema, s, 'supersession');
      const id = `nds-${digest(s.imageId, s.by)}`;
      const doc = toDoc({ id, ...s, byIngestedAt: iso(s.byIngestedAt), createdAt: iso(clock()) });
      return supersessions.insert(id, doc, contentHash(doc));
    },
    async supersessionsOf(imageId: string) {
      const rows = await supersessions.find({ where: { imageId } });
      return rows
        .map((r) => fromDoc<Supersession & { id?: string }>(r))
        .map(({ id: _id, ...s }) => s)
        .sort((a, b) =>
          compareSurvivor(
            { imageId: a.by, ingestedAt: a.byIngestedAt },
            { imageId: b.by, ingestedAt: b.byIngestedAt },
          ),
        );
    },
  };
}
