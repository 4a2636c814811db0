import type { LogRecord } from '../ports.ts';
import type { PipelineError } from '../../schemas/errors.ts';
import type { DeadLetter } from '../../schemas/generated/types.ts';
import { deriveId } from '../ids.ts';

export type { DeadLetter };

/**
 * Build the dead letter of a failed record (`schemas/avro/dead-letter.avsc`): the original
 * record byte for byte with its headers, plus why, where and how often it failed. Replaying it
 * after a fix means producing key/value/headers back to `originalTopic`. Its id is derived from
 * the source coordinates, so a failure replayed after a crash dedupes downstream.
 */
export function deadLetterOf(
  record: LogRecord,
  where: { topology: string; step: string },
  error: PipelineError,
  attempts: number,
  firstFailureAt: number,
  lastFailureAt: number,
): DeadLetter {
  let context: string | null = null;
  try {
    context = Object.keys(error.context).length === 0 ? null : JSON.stringify(error.context);
  } catch {
    context = '{"unserializable":true}';
  }
  const headers: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(record.headers)) headers[k] = Buffer.from(v, 'utf8');
  return {
    eventId: deriveId('dead-letter', where.topology, where.step, record.topic, record.partition, record.offset),
    originalTopic: record.topic,
    originalPartition: record.partition,
    originalOffset: Number(record.offset),
    originalKey: record.key,
    originalValue: record.value,
    originalHeaders: headers,
    originalTimestamp: record.timestamp,
    errorCode: String(error.code),
    errorMessage: error.message,
    retriable: error.retriable,
    errorContext: context,
    stack: error.stack ?? null,
    topology: where.topology,
    step: where.step,
    attempts,
    firstFailureAt,
    lastFailureAt,
  };
}
