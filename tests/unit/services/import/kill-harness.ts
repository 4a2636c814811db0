/**
 * Durable ingest deps in a work directory (fs object store, disk log, SQLite schema registry),
 * shared by the SIGKILL test and the child process it kills: what one process wrote, the next
 * one reads.
 */
import { join } from 'node:path';
import { systemClock } from '../../../../runtime/clock.ts';
import { avroSerdePort } from '../../../../runtime/engine/avro-serde-port.ts';
import { openFsObjectStore } from '../../../../runtime/lake/fs-object-store.ts';
import { createDiskLog, type DiskEventLog } from '../../../../runtime/log/disk-log.ts';
import { AvroSerde } from '../../../../runtime/serde/avro-serde.ts';
import { EmbeddedSchemaRegistry } from '../../../../runtime/serde/embedded-schema-registry.ts';
import type { ImageIngested } from '../../../../schemas/generated/types.ts';
import type { IngestDeps } from '../../../../topologies/ingest.ts';
import type { LogProducer } from '../../../../runtime/ports.ts';

/** Durable deps and a reader of what they hold. */
export interface DurableDeps {
  readonly deps: IngestDeps;
  readonly log: DiskEventLog;
  events(): Promise<ImageIngested[]>;
  close(): Promise<void>;
}

/** Open the durable deps of `workDir`; `wrap` may replace the producer (to make it hang). */
export async function openDurableDeps(
  workDir: string,
  wrap: (p: LogProducer) => LogProducer = (p) => p,
): Promise<DurableDeps> {
  const objects = await openFsObjectStore({ root: join(workDir, 'lake'), durable: false });
  const log = createDiskLog({ dir: join(workDir, 'log'), fsync: 'batch' });
  const registry = new EmbeddedSchemaRegistry({ path: join(workDir, 'registry.sqlite') });
  const serde = avroSerdePort(new AvroSerde(registry));
  const producer = wrap(await log.producer());
  return {
    deps: { objects, bucket: 'lake', producer, serde, clock: systemClock, maxBytes: 10_000_000 },
    log,
    events: async () => {
      const out: ImageIngested[] = [];
      for (const r of log.readAll('image.ingested'))
        out.push((await serde.decode('image.ingested', r.value!)).value as ImageIngested);
      return out;
    },
    close: async () => {
      await log.close();
      await objects.close();
    },
  };
}
