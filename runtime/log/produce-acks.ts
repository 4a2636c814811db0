import type { ProduceAck, ProduceRecord } from '../ports.ts';

/**
 * The acks of a produced batch from the base offset the broker reported per topic-partition
 * (`"<topic>:<partition>"` → offset), as both Kafka adapters answer `LogProducer.send`: a record
 * whose partition the client chose (`partition` unset) is acknowledged with partition -1.
 */
export function acksFromBaseOffsets(records: readonly ProduceRecord[], baseOffsets: ReadonlyMap<string, number>): ProduceAck[] {
  return records.map((r) => {
    const partition = r.partition ?? -1;
    return { topic: r.topic, partition, offset: partition >= 0 ? String(baseOffsets.get(`${r.topic}:${partition}`) ?? -1) : '-1' };
  });
}
