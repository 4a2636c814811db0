/**
 * A bounded, least-recently-used memory of the captures this process accepted, keyed by
 * (deviceId, clientCaptureId). It only lets a retry be answered 200 without re-emitting; the
 * ids themselves are derived deterministically, so forgetting (eviction, a restart, another
 * replica) changes the status code of a retry, never its ids or what happens downstream.
 */

/** What a capture answered. */
export interface CaptureIds {
  readonly imageId: string;
  readonly eventId: string;
  readonly captureEventId: string;
}

/** LRU map of capture key → ids. Map keeps insertion order: the first key is the oldest. */
export class RecentCaptures {
  private readonly entries = new Map<string, CaptureIds>();

  constructor(private readonly capacity = 10_000) {}

  /** The key of a capture. */
  static key(deviceId: string, clientCaptureId: string): string {
    return `${deviceId}\u0000${clientCaptureId}`;
  }

  get(key: string): CaptureIds | undefined {
    const ids = this.entries.get(key);
    if (ids !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, ids);
    }
    return ids;
  }

  set(key: string, ids: CaptureIds): void {
    this.entries.delete(key);
    this.entries.set(key, ids);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
