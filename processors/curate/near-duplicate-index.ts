/**
 * Near-duplicate detection on 64-bit perceptual hashes: a BK-tree under Hamming distance.
 * A query with a small radius visits only the subtrees whose distance band can hold a match,
 * so look-ups stay far below a linear scan as the lake grows (tests/bench measures it).
 * Written here rather than taken from npm: the maintained BK-tree packages are generic over
 * strings and would need the hash re-encoded on every comparison.
 */

interface Node {
  readonly hash: bigint;
  readonly id: string;
  readonly children: Map<number, Node>;
}

/** popcount of a 64-bit value. */
function popcount64(x: bigint): number {
  return popcount32(Number(x & 0xffffffffn)) + popcount32(Number(x >> 32n));
}

function popcount32(v: number): number {
  let y = v - ((v >>> 1) & 0x55555555);
  y = (y & 0x33333333) + ((y >>> 2) & 0x33333333);
  return (Math.imul((y + (y >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/** A match of a query. */
export interface NearMatch {
  readonly id: string;
  readonly distance: number;
}

/** The index: insert hashes with their image ids, query the nearest within a radius. */
export class NearDuplicateIndex {
  private root: Node | undefined;
  private readonly ids = new Map<string, bigint>();

  /** Number of distinct images indexed. */
  get size(): number {
    return this.ids.size;
  }

  /** True when the image is already indexed (replays of the same image are not duplicates of themselves). */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Add an image's hash (16 hex digits). Adding the same id again changes nothing. */
  add(id: string, hashHex: string): void {
    if (this.ids.has(id)) return;
    const hash = BigInt(`0x${hashHex}`);
    this.ids.set(id, hash);
    const node: Node = { hash, id, children: new Map() };
    if (this.root === undefined) {
      this.root = node;
      return;
    }
    let cur = this.root;
    for (;;) {
      const d = popcount64(cur.hash ^ hash);
      const next = cur.children.get(d);
      if (next === undefined) {
        cur.children.set(d, node);
        return;
      }
      cur = next;
    }
  }

  /** The nearest other image within `radius` (ties: the smallest id, so results are deterministic). */
  nearest(hashHex: string, radius: number, exceptId?: string): NearMatch | null {
    if (this.root === undefined) return null;
    const hash = BigInt(`0x${hashHex}`);
    let best: NearMatch | null = null;
    const stack: Node[] = [this.root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      const d = popcount64(node.hash ^ hash);
      if (d <= radius && node.id !== exceptId && (best === null || d < best.distance || (d === best.distance && node.id < best.id))) {
        best = { id: node.id, distance: d };
      }
      const limit = best === null ? radius : Math.min(radius, best.distance);
      for (const [edge, child] of node.children) if (edge >= d - limit && edge <= d + limit) stack.push(child);
    }
    return best;
  }

  /** Every other image within `radius`, nearest first (ties by id). */
  within(hashHex: string, radius: number, exceptId?: string): NearMatch[] {
    if (this.root === undefined) return [];
    const hash = BigInt(`0x${hashHex}`);
    const out: NearMatch[] = [];
    const stack: Node[] = [this.root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      const d = popcount64(node.hash ^ hash);
      if (d <= radius && node.id !== exceptId) out.push({ id: node.id, distance: d });
      for (const [edge, child] of node.children) if (edge >= d - radius && edge <= d + radius) stack.push(child);
    }
    return out.sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Check an image against the index and, when it is an original (no near match), add it — in
   * one synchronous call, so two near-identical images processed concurrently cannot both pass
   * as originals. Duplicates are not indexed: a replay of the original must not find its copy.
   */
  checkAndAdd(id: string, hashHex: string, radius: number): NearMatch | null {
    const match = this.nearest(hashHex, radius, id);
    if (match === null) this.add(id, hashHex);
    return match;
  }
}
