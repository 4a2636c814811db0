import type { BatchControl, ConsumedBatch } from '../ports.ts';
import type { Metrics } from '../metrics.ts';

/**
 * Commits a batch once everything it produced was acknowledged: the offset of the record after
 * its last one, and the partition's lag as seen at fetch time. Committing is the last thing a
 * batch does, so a crash before it replays the batch and a crash after it replays nothing.
 */
export class Committer {
  constructor(
    private readonly topology: string,
    private readonly metrics: Metrics,
  ) {}

  /** Commit `batch` through `control`; an empty batch commits nothing. */
  async commit(batch: ConsumedBatch, control: BatchControl): Promise<void> {
    const last = batch.records[batch.records.length - 1];
    if (last === undefined) return;
    const next = BigInt(last.offset) + 1n;
    await control.commit(String(next));
    this.metrics.setLag(this.topology, batch.topic, batch.partition, Number(BigInt(batch.highWatermark) - next));
  }
}
