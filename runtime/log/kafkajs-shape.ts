/**
 * What the two adapters on the KafkaJS API shape share: kafkajs itself and librdkafka's
 * KafkaJS-compatible API (`@confluentinc/kafka-javascript`) take and return the same objects for
 * headers, batched sends, topic creation and offset lookups.
 */
import type { PipelineError } from '../../schemas/errors.ts';
import { withRetry } from '../lake/retry.ts';
import { acksFromBaseOffsets } from './produce-acks.ts';
import type { Headers, LogRecord, ProduceAck, ProduceRecord, TopicSpec } from '../ports.ts';

/** The admin calls both APIs answer alike. */
export interface KafkaJsShapedAdmin {
  listTopics(): Promise<string[]>;
  createTopics(options: {
    waitForLeaders?: boolean;
    topics: { topic: string; numPartitions: number; replicationFactor: number }[];
  }): Promise<boolean>;
  fetchTopicOffsets(topic: string): Promise<{ partition: number; high: string }[]>;
  fetchOffsets(options: { groupId: string; topics: string[] }): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

/** One message of a batched send, as both APIs take it. */
export interface KafkaJsShapedMessage {
  key: Buffer | string | null;
  value: Buffer | null;
  headers: Headers;
  partition?: number;
}

/** What a batched send answers per partition. */
export interface KafkaJsShapedRecordMetadata {
  topicName: string;
  partition: number;
  baseOffset?: string;
  offset?: string;
}

const NO_HEADERS: Headers = Object.freeze({});

/** Record headers as the port hands them out: UTF-8 strings, the first value of a repeated key. */
function toHeaders(raw: Record<string, unknown> | undefined): Headers {
  if (raw === undefined) return NO_HEADERS;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined || v === null) continue;
    const first: unknown = Array.isArray(v) ? v[0] : v;
    out[k] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}

/** A consumed message of one partition, as both APIs hand it to `eachBatch`. */
export interface KafkaJsShapedConsumed {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp: string;
  headers?: Record<string, unknown>;
}

/** Consumed messages of one topic-partition as the port's records. */
export function logRecordsOf(topic: string, partition: number, messages: readonly KafkaJsShapedConsumed[]): LogRecord[] {
  return messages.map((m) => ({
    topic,
    partition,
    offset: m.offset,
    key: m.key,
    value: m.value,
    headers: toHeaders(m.headers),
    timestamp: Number(m.timestamp),
  }));
}

/** The records of one send grouped by topic, as `sendBatch` takes them. */
export function topicMessagesOf(records: readonly ProduceRecord[]): { topic: string; messages: KafkaJsShapedMessage[] }[] {
  const byTopic = new Map<string, KafkaJsShapedMessage[]>();
  for (const r of records) {
    const message: KafkaJsShapedMessage = { key: r.key, value: r.value, headers: r.headers ?? {}, ...(r.partition === undefined ? {} : { partition: r.partition }) };
    const list = byTopic.get(r.topic);
    if (list === undefined) byTopic.set(r.topic, [message]);
    else list.push(message);
  }
  return [...byTopic.entries()].map(([topic, messages]) => ({ topic, messages }));
}

/** Each record's offset from the base offset per partition a send answered (a partition's records are consecutive). */
export function acksOf(records: readonly ProduceRecord[], result: readonly KafkaJsShapedRecordMetadata[]): ProduceAck[] {
  const next = new Map<string, number>();
  for (const m of result) next.set(`${m.topicName}:${m.partition}`, Number(m.baseOffset ?? m.offset ?? '0'));
  return acksFromBaseOffsets(records, next);
}

/**
 * Create the topics of `missing` that do not exist yet. A broker busy electing leaders for topics
 * just made answers retriably: the next attempt lists the topics again. A topic another member
 * created meanwhile is fine.
 */
export async function createMissingTopics(
  admin: KafkaJsShapedAdmin,
  missing: readonly TopicSpec[],
  options: { defaultPartitions?: number; replicationFactor?: number; waitForLeaders?: boolean },
  classify: (err: unknown) => PipelineError,
): Promise<void> {
  await withRetry(
    async () => {
      const existing = new Set(await admin.listTopics());
      const toCreate = missing.filter((t) => !existing.has(t.name));
      if (toCreate.length === 0) return;
      await admin
        .createTopics({
          ...(options.waitForLeaders === true ? { waitForLeaders: true } : {}),
          topics: toCreate.map((t) => ({
            topic: t.name,
            numPartitions: t.partitions ?? options.defaultPartitions ?? 3,
            replicationFactor: options.replicationFactor ?? 1,
          })),
        })
        .catch((err: unknown) => {
          if (!/already exists/i.test(String((err as Error).message))) throw err;
        });
    },
    classify,
    { attempts: 5, baseDelayMs: 250 },
  );
}

/** End offset (next to be written) per partition. */
export async function endOffsetsVia(admin: KafkaJsShapedAdmin, topic: string): Promise<Map<number, string>> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, o.high]));
}

/** What `group` committed on `topic` per partition; partitions without a commit are left out. */
export async function committedOffsetsVia(admin: KafkaJsShapedAdmin, group: string, topic: string): Promise<Map<number, string>> {
  const res = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const out = new Map<number, string>();
  for (const t of res) for (const p of t.partitions) if (p.offset !== '-1') out.set(p.partition, p.offset);
  return out;
}
