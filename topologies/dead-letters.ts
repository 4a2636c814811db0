import type { DeadLetter } from '../schemas/generated/types.ts';
import { Topics } from '../schemas/topics.ts';
import { topology } from '../runtime/engine/builder.ts';
import type { Catalog, DeadLetterEntry } from '../runtime/catalog/catalog.ts';

/** What the dead-letter index needs. */
export interface DeadLetterIndexDeps {
  readonly catalog: Catalog;
}

const PRINTABLE_KEY = /^[\x21-\x7e]{1,512}$/;

/** The catalog's form of a dead letter (bytes base64, times ISO). */
export function deadLetterEntry(letter: DeadLetter): Omit<DeadLetterEntry, 'replayedAt' | 'recordedAt'> {
  const keyText = letter.originalKey === null ? null : letter.originalKey.toString('utf8');
  return {
    id: letter.eventId,
    errorCode: letter.errorCode,
    errorMessage: letter.errorMessage,
    retriable: letter.retriable,
    errorContext: letter.errorContext,
    topology: letter.topology,
    step: letter.step,
    attempts: letter.attempts,
    firstFailureAt: new Date(letter.firstFailureAt).toISOString(),
    lastFailureAt: new Date(letter.lastFailureAt).toISOString(),
    originalTopic: letter.originalTopic,
    originalPartition: letter.originalPartition,
    originalOffset: String(letter.originalOffset),
    originalKey: letter.originalKey === null ? null : letter.originalKey.toString('base64'),
    imageKey: keyText !== null && PRINTABLE_KEY.test(keyText) ? keyText : null,
    originalValue: letter.originalValue === null ? null : letter.originalValue.toString('base64'),
    originalHeaders: Object.entries(letter.originalHeaders)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => ({ key, value: value.toString('base64') })),
    originalTimestamp:
      letter.originalTimestamp === null ? null : new Date(letter.originalTimestamp).toISOString(),
  };
}

/**
 * dead-letters: the dead-letter topic → the catalog's dead-letter index, so the lake can list dead
 * letters by code, topic and time, show one with its original bytes, and record replays. Insert
 * by the dead letter's id: a re-read writes nothing. A letter this topology cannot index stops it
 * (`fail`) rather than being dead-lettered onto the topic it reads.
 */
export const deadLetterIndexTopology = topology<DeadLetterIndexDeps>(
  'dead-letters',
  {
    description: 'dead letters → catalog index (list, show, replay)',
    errors: { retry: { attempts: 5, initialDelayMs: 200 }, otherwise: 'fail' },
    run: { maxInFlight: 8, maxBatchRecords: 64 },
  },
  (b) =>
    b.stream(Topics.deadLetter, { group: 'captionflow-dead-letters' }).effect('catalog-dead-letter', {
      target: 'catalog: dead_letters',
      key: (d) => d.eventId,
      write: async (d, ctx) => {
        await ctx.deps.catalog.deadLetters.record(deadLetterEntry(d));
      },
    }),
);
