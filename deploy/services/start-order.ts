/**
 * Starting servers side by side while honouring what each needs: Trino's start writes its
 * metastore bucket to the S3 server, so it must begin only once that server is healthy. Without
 * this, a cold `up` (CI: nothing running yet) raced the two and Trino's start met a refused
 * connection.
 */

/** `names` plus everything they need, transitively, in the order first met (needs before their dependents). */
export function withNeeds<N extends string>(names: readonly N[], needsOf: (n: N) => readonly N[]): N[] {
  const out: N[] = [];
  const visit = (n: N, path: readonly N[]): void => {
    if (path.includes(n)) throw new Error(`services need each other in a cycle: ${[...path, n].join(' → ')}`);
    if (out.includes(n)) return;
    for (const need of needsOf(n)) visit(need, [...path, n]);
    out.push(n);
  };
  for (const n of names) visit(n, []);
  return out;
}

/**
 * Runs `start` for every name at once, except that a name waits until each of its needs that
 * is also being started has finished. A need that fails fails its dependents without starting
 * them. Needs outside `names` are taken as running already. Rejects with the first failure,
 * after every start has settled (so nothing is left half-started behind the caller's back).
 */
export async function startAfterNeeds<N extends string>(
  names: readonly N[],
  needsOf: (n: N) => readonly N[],
  start: (n: N) => Promise<void>,
): Promise<void> {
  const order = withNeeds(names, needsOf).filter((n) => names.includes(n));
  const done = new Map<N, Promise<void>>();
  for (const n of order) {
    const needs = needsOf(n)
      .filter((d) => names.includes(d))
      .map((d) => done.get(d) as Promise<void>);
    done.set(
      n,
      Promise.all(needs).then(
        () => start(n),
        (err: unknown) => {
          throw new Error(`${n} not started: a server it needs failed to start`, { cause: err });
        },
      ),
    );
  }
  const results = await Promise.allSettled(order.map((n) => done.get(n) as Promise<void>));
  // The root cause first: a dependent's failure only says that its need failed.
  const failed = order.flatMap((n, i) => {
    const r = results[i];
    return r?.status === 'rejected' ? [r.reason as unknown] : [];
  });
  if (failed.length > 0) throw failed[0];
}
