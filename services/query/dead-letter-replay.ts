/**
 * Replaying dead letters after their cause was fixed: each original record goes back, key,
 * value and headers byte for byte, to the topic it was read from (plus a `cf-replay-of` header
 * naming the dead letter), and the replay is recorded in the catalog so the letter leaves the
 * open list. The pipeline's sinks are idempotent (content-addressed objects, merge upserts,
 * derived event ids), so a record that had partly gone through before failing changes nothing
 * downstream when it passes again.
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { Catalog, DeadLetterEntry, DeadLetterQuery } from '../../runtime/catalog/catalog.ts';
import type { Clock, Headers, LogProducer } from '../../runtime/ports.ts';

/** What a replay needs. */
export interface ReplayDeps {
  readonly catalog: Catalog;
  readonly producer: LogProducer;
  readonly clock: Clock;
}

/** Which letters to replay: the given ids, or every open letter matching a filter. */
export type ReplaySelection =
  | { readonly ids: readonly string[] }
  | { readonly filter: Omit<DeadLetterQuery, 'state'>; readonly max?: number };

/** The outcome of a replay. */
export interface ReplayResult {
  readonly replayed: {
    readonly id: string;
    readonly topic: string;
    readonly partition: number;
    readonly offset: string;
  }[];
  /** Letters not replayed, and why (`NOT_FOUND`, `ALREADY_REPLAYED`). */
  readonly skipped: { readonly id: string; readonly reason: string }[];
}

/** Header naming the dead letter a replayed record comes from. */
export const REPLAY_HEADER = 'cf-replay-of';

async function selected(
  catalog: Catalog,
  selection: ReplaySelection,
): Promise<{ letters: DeadLetterEntry[]; missing: string[] }> {
  if ('ids' in selection) {
    const letters: DeadLetterEntry[] = [];
    const missing: string[] = [];
    for (const id of selection.ids) {
      const letter = await catalog.deadLetters.get(id);
      if (letter === null) missing.push(id);
      else letters.push(letter);
    }
    return { letters, missing };
  }
  const max = selection.max ?? 10_000;
  const letters: DeadLetterEntry[] = [];
  let after: string | undefined;
  do {
    const page = await catalog.deadLetters.list(
      { ...selection.filter, state: 'open' },
      { limit: Math.min(500, max - letters.length), ...(after === undefined ? {} : { after }) },
    );
    letters.push(...page.items);
    after = page.next ?? undefined;
  } while (after !== undefined && letters.length < max);
  // Oldest first: records go back in the order they originally failed.
  return { letters: letters.reverse(), missing: [] };
}

/** Replay dead letters (see the module comment). `by` names who asked, for the replay record. */
export async function replayDeadLetters(
  deps: ReplayDeps,
  selection: ReplaySelection,
  by: string,
): Promise<ReplayResult> {
  if ('ids' in selection && selection.ids.length === 0)
    throw new PipelineError(ErrorCodes.CATALOG_RECORD_INVALID, 'no dead-letter id given', {
      context: { field: 'ids' },
    });
  const { letters, missing } = await selected(deps.catalog, selection);
  const result: ReplayResult = { replayed: [], skipped: missing.map((id) => ({ id, reason: 'NOT_FOUND' })) };
  for (const letter of letters) {
    if (letter.replayedAt !== null) {
      result.skipped.push({ id: letter.id, reason: 'ALREADY_REPLAYED' });
      continue;
    }
    const headers: Headers = {};
    for (const h of letter.originalHeaders) headers[h.key] = Buffer.from(h.value, 'base64').toString('utf8');
    headers[REPLAY_HEADER] = letter.id;
    const [ack] = await deps.producer.send([
      {
        topic: letter.originalTopic,
        key: letter.originalKey === null ? null : Buffer.from(letter.originalKey, 'base64'),
        value: letter.originalValue === null ? null : Buffer.from(letter.originalValue, 'base64'),
        headers,
      },
    ]);
    if (ack === undefined)
      throw new PipelineError(ErrorCodes.BROKER_UNAVAILABLE, 'the log acknowledged no record', {
        retriable: true,
      });
    // Produce first, then record: a crash in between replays the letter again, which the idempotent sinks absorb.
    await deps.catalog.deadLetters.markReplayed({
      id: letter.id,
      at: new Date(deps.clock.now()).toISOString(),
      by,
      topic: ack.topic,
      partition: ack.partition,
      offset: ack.offset,
    });
    result.replayed.push({ id: letter.id, topic: ack.topic, partition: ack.partition, offset: ack.offset });
  }
  return result;
}
