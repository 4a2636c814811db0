import type { AppendRecord, LocalLogOptions, LogStorage, StoredRecord } from './local-log.ts';
import { LocalEventLog } from './local-log.ts';

/** Keeps partitions as arrays: for the topology test driver and unit tests. */
class MemoryStorage implements LogStorage {
  private readonly topics = new Map<string, StoredRecord[][]>();
  private readonly offsets = new Map<string, number>();

  topicPartitions(topic: string): number | undefined {
    return this.topics.get(topic)?.length;
  }

  createTopic(topic: string, partitions: number): void {
    this.topics.set(
      topic,
      Array.from({ length: partitions }, () => []),
    );
  }

  appendBatch(entries: readonly { topic: string; partition: number; records: readonly AppendRecord[] }[]): number[][] {
    return entries.map((e) => {
      const part = this.topics.get(e.topic)![e.partition]!;
      return e.records.map((r) => {
        const offset = part.length;
        part.push({ ...r, offset });
        return offset;
      });
    });
  }

  read(topic: string, partition: number, fromOffset: number, max: number): StoredRecord[] {
    const part = this.topics.get(topic)?.[partition] ?? [];
    return part.slice(fromOffset, fromOffset + max);
  }

  endOffset(topic: string, partition: number): number {
    return this.topics.get(topic)?.[partition]?.length ?? 0;
  }

  startOffset(): number {
    return 0;
  }

  committed(group: string, topic: string, partition: number): number | undefined {
    return this.offsets.get(`${group}\u0000${topic}\u0000${partition}`);
  }

  commit(group: string, topic: string, partition: number, offset: number): void {
    this.offsets.set(`${group}\u0000${topic}\u0000${partition}`, offset);
  }

  close(): void {}
}

/** An event log held in memory (lost when the process ends). */
export function createMemoryLog(options: LocalLogOptions = {}): LocalEventLog {
  return new LocalEventLog('memory', new MemoryStorage(), options);
}
