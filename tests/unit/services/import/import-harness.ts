/**
 * A lake (fs objects, SQLite catalog, Avro serde) and an in-memory log wired as ingest deps, for
 * the bulk importer's tests, with a reader of the `image.ingested` events it produced.
 */
import { systemClock } from '../../../../runtime/clock.ts';
import { createMemoryLog } from '../../../../runtime/log/memory-log.ts';
import type { LocalEventLog } from '../../../../runtime/log/local-log.ts';
import type { Clock, LogProducer } from '../../../../runtime/ports.ts';
import type { ImageIngested } from '../../../../schemas/generated/types.ts';
import type { IngestDeps } from '../../../../topologies/ingest.ts';
import type { LakeDeps } from '../../../../topologies/lake-services.ts';
import { tempLake } from '../../../topology/lake/harness.ts';

/** A clock whose sleeps end at once: retries with backoff take no time in tests. */
export const instantClock: Clock = { now: () => Date.now(), sleep: () => Promise.resolve() };

/** Ingest deps on a temp lake and a memory log. */
export interface ImportHarness {
  readonly deps: IngestDeps;
  readonly log: LocalEventLog;
  readonly lake: LakeDeps;
  /** Deps with another producer (a failing one, a counting one…). */
  withProducer(producer: LogProducer, overrides?: Partial<IngestDeps>): IngestDeps;
  /** Every image.ingested event in the log, decoded. */
  events(): Promise<ImageIngested[]>;
  close(): Promise<void>;
}

/** Open a fresh harness. */
export async function importHarness(overrides: Partial<IngestDeps> = {}): Promise<ImportHarness> {
  const lake = await tempLake();
  const log = createMemoryLog();
  const producer = await log.producer();
  const base: IngestDeps = {
    objects: lake.deps.objects,
    bucket: 'lake',
    producer,
    serde: lake.serde,
    clock: systemClock,
    maxBytes: 10_000_000,
    ...overrides,
  };
  return {
    deps: base,
    log,
    lake: lake.deps,
    withProducer: (p, more = {}) => ({ ...base, producer: p, ...more }),
    events: async () => {
      const out: ImageIngested[] = [];
      for (const r of log.readAll('image.ingested'))
        out.push((await lake.serde.decode('image.ingested', r.value!)).value as ImageIngested);
      return out;
    },
    close: async () => {
      await log.close();
      await lake.close();
    },
  };
}
