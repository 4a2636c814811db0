/**
 * A per-key async mutex: callers with the same key run one after the other, others in parallel.
 *
 * The catalog serializes the read → merge → write cycle of one record inside a process with it.
 * On SQLite and MongoDB the compare-and-set on `rev` would suffice, but FerretDB 1.24 does not
 * evaluate an update's filter atomically with the write (concurrent `replaceOne({_id, _rev})`
 * calls can all match; see README.md), so without this lock concurrent writers of one record in
 * one process could lose updates there. A dozen lines, so no dependency for it.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Run `fn` once every earlier holder of `key` has finished. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      // The last holder cleans up, so the map only holds keys in use.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
