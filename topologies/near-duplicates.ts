import type { Catalog, JsonValue, NearDuplicateCandidate, Supersession } from '../runtime/catalog/catalog.ts';
import type { ObjectStore } from '../runtime/lake/object-store.ts';
import type { ImageNormalized } from '../schemas/generated/types.ts';
import { colourSignature, signatureDistance } from '../processors/curate/colour-signature.ts';
import { compareSurvivor, ranksBefore, type SurvivorRank } from '../processors/curate/survivor-rule.ts';
import type { QualityVerdict } from '../processors/curate/quality-gate.ts';

/** Settings of near-duplicate judging. */
export interface NearDuplicateOptions {
  /** pHash Hamming distance at or below which two images are candidates (`processing.nearDuplicateDistance`). */
  readonly radius: number;
  /** Largest colour-signature distance (0..1) at which a candidate is confirmed. */
  readonly maxColourDistance: number;
}

/** A confirmed near-duplicate: the other image and the pHash distance. */
export interface NearMatch {
  readonly id: string;
  readonly distance: number;
}

/**
 * One image.curated record to make: the judged image itself, or a demotion of an image judged
 * earlier (`demotedBy` = the image whose judgement found it ranks after it).
 */
export interface Judged {
  readonly n: ImageNormalized;
  readonly duplicateOf: NearMatch | null;
  readonly gate: QualityVerdict;
  /** Set on a demotion: the id of the earlier image that supersedes `n`. */
  readonly demotedBy: string | null;
}

/**
 * The time an image was ingested, as every curate instance sees it for the same record: the
 * earliest hop of its lineage (normalize's hop reading image.ingested). image.normalized does not
 * carry image.ingested's `occurredAt`; the hop time is the earliest ingest-side time it carries.
 * The store keeps the first value recorded for an image, so a replayed normalize (a later hop
 * time) does not re-rank it.
 */
export function ingestTimeOf(n: ImageNormalized): string {
  const first = n.lineage.hops.reduce((min, h) => Math.min(min, h.at), n.normalizedAt);
  return new Date(first).toISOString();
}

const PASSED: QualityVerdict = { passed: true, reasons: [] };

/**
 * Near-duplicate judging over the catalog's shared state store, so every replica of curate
 * judges against the same images (ARCHITECTURE.md, "State"); this process only caches colour
 * signatures.
 *
 * A judgement writes first and looks up after: an image that passed the quality gate enters its
 * band entries, then looks up its candidates — so of two near-duplicates judged at the same time
 * on two instances, at least one sees the other (whichever wrote second reads after both writes).
 * Candidates within the pHash radius are confirmed by the colour signature (pHash ignores colour).
 * The survivor rule (processors/curate/survivor-rule.ts: earliest ingest, then smallest id)
 * decides, whatever the judging order: an image with a confirmed earlier neighbour is a
 * duplicate; confirmed later neighbours are superseded by it — recorded in the store, and
 * announced as demotions (image.curated records of their own) unless an earlier image already
 * announced them. Only images that passed the gate enter the store, so a rejected image never
 * shadows a good copy.
 */
export class NearDuplicates {
  private readonly signatures = new Map<string, Promise<Uint8Array>>();

  constructor(
    private readonly catalog: Catalog,
    private readonly objects: ObjectStore,
    private readonly options: NearDuplicateOptions,
  ) {}

  /** Judge an image: its own record first, then the demotions its judgement announces. */
  async judge(n: ImageNormalized, gate: QualityVerdict): Promise<Judged[]> {
    const store = this.catalog.nearDuplicates;
    let me: SurvivorRank = { imageId: n.imageId, ingestedAt: ingestTimeOf(n) };
    if (gate.passed) {
      const member = await store.register(
        {
          imageId: n.imageId,
          pHash: n.pHash,
          ingestedAt: me.ingestedAt,
          silverKey: n.modelInput.key,
          facts: n as unknown as JsonValue,
        },
        this.options.radius,
      );
      me = { imageId: n.imageId, ingestedAt: member.ingestedAt };
    }
    // The look-up after our own write (see the class comment).
    const confirmed = await this.confirmed(n, await store.within(n.pHash, this.options.radius));
    // A rejected image cannot survive: any confirmed neighbour is its better copy.
    const earlier = gate.passed ? confirmed.filter((c) => ranksBefore(c, me)) : confirmed;
    const first = earlier[0];
    const duplicateOf = first === undefined ? null : { id: first.imageId, distance: first.distance };
    if (first !== undefined && gate.passed)
      await store.supersede({
        imageId: n.imageId,
        by: first.imageId,
        byIngestedAt: first.ingestedAt,
        distance: first.distance,
      });
    const own: Judged = { n, duplicateOf, gate, demotedBy: null };
    if (!gate.passed) return [own];
    return [
      own,
      ...(await this.demote(
        me,
        confirmed.filter((c) => ranksBefore(me, c)),
      )),
    ];
  }

  /**
   * The earliest recorded supersession of an image, or null while it survives. Read by the
   * catalog write of a survivor (see {@link writeSurvivor}).
   */
  async supersededBy(imageId: string): Promise<Supersession | null> {
    return (await this.catalog.nearDuplicates.supersessionsOf(imageId))[0] ?? null;
  }

  /**
   * Write a survivor's catalog status without racing its demotion. A judge of an earlier image on
   * another instance records the supersession before it writes the demotion; this write reads the
   * supersessions before writing (`write(supersession)` writes duplicate when one is given) and
   * again after: a demotion written before our write is seen by the first read, one written
   * after it wins by being later, and one racing it was recorded before our second read — which
   * then writes duplicate itself. So a demoted image's slower own write cannot leave it curated.
   */
  async writeSurvivor(
    imageId: string,
    write: (supersession: Supersession | null) => Promise<unknown>,
  ): Promise<void> {
    const before = await this.supersededBy(imageId);
    await write(before);
    if (before !== null) return;
    const after = await this.supersededBy(imageId);
    if (after !== null) await write(after);
  }

  /** Supersede the confirmed later neighbours; announce those no earlier image announced. */
  private async demote(me: SurvivorRank, later: readonly NearDuplicateCandidate[]): Promise<Judged[]> {
    const store = this.catalog.nearDuplicates;
    const announce: NearDuplicateCandidate[] = [];
    for (const other of later) {
      await store.supersede({
        imageId: other.imageId,
        by: me.imageId,
        byIngestedAt: me.ingestedAt,
        distance: other.distance,
      });
      // The earliest superseding image always announces (nobody ranks before it); later ones
      // leave it to that one, or to the image's own judgement when it found an earlier image.
      const prior = await store.supersessionsOf(other.imageId);
      if (
        !prior.some(
          (s) => s.by !== me.imageId && ranksBefore({ imageId: s.by, ingestedAt: s.byIngestedAt }, me),
        )
      )
        announce.push(other);
    }
    const members = await store.members(announce.map((a) => a.imageId));
    return members.map((m) => {
      const distance = announce.find((a) => a.imageId === m.imageId)!.distance;
      return {
        n: m.facts as unknown as ImageNormalized,
        duplicateOf: { id: me.imageId, distance },
        gate: PASSED,
        demotedBy: me.imageId,
      };
    });
  }

  /** Candidates other than `n` confirmed by the colour signature, in survivor order. */
  private async confirmed(
    n: ImageNormalized,
    candidates: readonly NearDuplicateCandidate[],
  ): Promise<NearDuplicateCandidate[]> {
    const others = candidates.filter((c) => c.imageId !== n.imageId);
    if (others.length === 0) return [];
    const mine = await this.signature(n.imageId, n.modelInput.key);
    const out: NearDuplicateCandidate[] = [];
    for (const c of others) {
      if (
        signatureDistance(mine, await this.signature(c.imageId, c.silverKey)) <=
        this.options.maxColourDistance
      )
        out.push(c);
    }
    return out.sort(compareSurvivor);
  }

  private signature(id: string, key: string): Promise<Uint8Array> {
    let sig = this.signatures.get(id);
    if (sig === undefined) {
      sig = this.objects.get(key).then((bytes) => colourSignature(bytes));
      // A failed read must not stick in the cache.
      void sig.catch(() => this.signatures.delete(id));
      // Bounded: signatures are 192 bytes; keep the most recent 50k.
      if (this.signatures.size >= 50_000) this.signatures.delete(this.signatures.keys().next().value!);
      this.signatures.set(id, sig);
    }
    return sig;
  }
}
