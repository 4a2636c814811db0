import type { Headers, LogRecord } from '../ports.ts';
import type { PipelineError } from '../../schemas/errors.ts';
import { deriveId } from '../ids.ts';

/**
 * A dead letter: the original record, byte for byte with its headers, plus why and where it
 * failed. Replaying it after a fix means producing `key`/`value`/`headers` back to `sourceTopic`.
 * Mirrors `schemas/avro/dead.letter.avsc`.
 */
export interface DeadLetter {
  readonly id: string;
  readonly topology: string;
  readonly step: string;
  readonly sourceTopic: string;
  readonly sourcePartition: number;
  readonly sourceOffset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly retriable: boolean;
  readonly attempts: number;
  readonly firstFailureAt: number;
  readonly lastFailureAt: number;
  readonly stack: string | null;
  /** The error's context as JSON. */
  readonly context: string;
}

/** Build the dead letter of a failed record. Its id is deterministic, so a replayed failure dedupes. */
export function deadLetterOf(
  record: LogRecord,
  where: { topology: string; step: string },
  error: PipelineError,
  attempts: number,
  firstFailureAt: number,
  lastFailureAt: number,
): DeadLetter {
  let context = '{}';
  try {
    context = JSON.stringify(error.context);
  } catch {
    context = '{"unserializable":true}';
  }
  return {
    id: deriveId('dead-letter', where.topology, where.step, record.topic, record.partition, record.offset),
    topology: where.topology,
    step: where.step,
    sourceTopic: record.topic,
    sourcePartition: record.partition,
    sourceOffset: record.offset,
    key: record.key,
    value: record.value,
    headers: record.headers,
    errorCode: String(error.code),
    errorMessage: error.message,
    retriable: error.retriable,
    attempts,
    firstFailureAt,
    lastFailureAt,
    stack: error.stack ?? null,
    context,
  };
}
