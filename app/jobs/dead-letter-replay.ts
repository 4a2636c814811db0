/**
 * Dead-letter replay: after a fix, the records a topology dead-lettered are produced again to
 * the topic they came from (same key, value and headers, plus `cf-replay-of`). The job reads the
 * dead-letter topic as a consumer group of its own (one per error-code filter), up to the end
 * offsets it saw when it started, so a record is replayed once per filter, and a run ends.
 */
import type { DeadLetter } from '../../schemas/generated/types.ts';
import { Topics } from '../../schemas/topics.ts';
import type { EventLog, LogProducer, Serde } from '../../runtime/ports.ts';

/** What the replay needs. */
export interface ReplayDeps {
  readonly log: EventLog;
  readonly producer: LogProducer;
  readonly serde: Serde;
  /** Physical name of a logical topic or group. */
  readonly topicName: (logical: string) => string;
}

/** What a replay did. */
export interface ReplayResult {
  readonly read: number;
  readonly replayed: number;
  /** Per original topic. */
  readonly byTopic: Record<string, number>;
}

function headersOf(h: Record<string, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.toString('utf8')]));
}

/** Replay dead letters (those with error code `code`, or all) until the end offsets seen at the start. */
export async function replayDeadLetters(deps: ReplayDeps, options: { readonly code?: string; readonly signal?: AbortSignal } = {}): Promise<ReplayResult> {
  const topic = deps.topicName(Topics.deadLetter.name);
  const group = deps.topicName(`captionflow-dead-letter-replay${options.code === undefined ? '' : `-${options.code.toLowerCase()}`}`);
  const end = await deps.log.endOffsets(topic);
  const committed = await deps.log.committedOffsets(group, topic);
  const pending = new Set([...end].filter(([p, e]) => BigInt(committed.get(p) ?? '0') < BigInt(e)).map(([p]) => p));
  const result = { read: 0, replayed: 0, byTopic: {} as Record<string, number> };
  if (pending.size === 0) return result;
  const consumer = await deps.log.consumer({ group, topics: [topic], fromBeginning: true, maxBatchRecords: 200 });
  let finish = (): void => {};
  const finished = new Promise<void>((r) => (finish = r));
  const running = consumer.run(async (batch, control) => {
    const stop = BigInt(end.get(batch.partition) ?? '0');
    for (const record of batch.records) {
      if (!control.isRunning() || BigInt(record.offset) >= stop) break;
      result.read++;
      if (record.value !== null) {
        const dl = (await deps.serde.decode(Topics.deadLetter.name, record.value)).value as DeadLetter;
        if ((options.code === undefined || dl.errorCode === options.code) && dl.originalValue !== null) {
          await deps.producer.send([{ topic: dl.originalTopic, key: dl.originalKey, value: dl.originalValue, headers: { ...headersOf(dl.originalHeaders), 'cf-replay-of': dl.eventId } }]);
          result.replayed++;
          result.byTopic[dl.originalTopic] = (result.byTopic[dl.originalTopic] ?? 0) + 1;
        }
      }
      await control.commit((BigInt(record.offset) + 1n).toString());
      if (BigInt(record.offset) + 1n >= stop) {
        pending.delete(batch.partition);
        if (pending.size === 0) finish();
      }
    }
  });
  const aborted = new Promise<void>((r) => options.signal?.addEventListener('abort', () => r(), { once: true }));
  await Promise.race([finished, aborted, running]);
  await consumer.stop();
  await running.catch(() => undefined);
  options.signal?.throwIfAborted();
  return result;
}
