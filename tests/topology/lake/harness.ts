import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteCatalog } from '../../../runtime/catalog/sqlite-catalog.ts';
import { openFsObjectStore } from '../../../runtime/lake/fs-object-store.ts';
import { AvroSerde } from '../../../runtime/serde/avro-serde.ts';
import { EmbeddedSchemaRegistry } from '../../../runtime/serde/embedded-schema-registry.ts';
import { avroSerdePort } from '../../../runtime/engine/avro-serde-port.ts';
import { resolveNormalizeOptions } from '../../../processors/image/normalize-options.ts';
import { createCaptionNormalizer } from '../../../processors/text/normalize-caption.ts';
import { QualityGateOptionsSchema } from '../../../processors/curate/quality-gate.ts';
import { DuplicateDetector } from '../../../topologies/duplicate-detector.ts';
import type { LakeDeps } from '../../../topologies/lake-services.ts';
import type { Serde } from '../../../runtime/ports.ts';

/** A lake on temp storage (fs objects + SQLite catalog) with the Avro serde on an in-memory registry. */
export async function tempLake(): Promise<{ deps: LakeDeps; serde: Serde; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'cf-lake-topology-'));
  const objects = await openFsObjectStore({ root: join(dir, 'lake'), durable: false });
  const catalog = await openSqliteCatalog({ path: join(dir, 'catalog.sqlite') });
  const registry = new EmbeddedSchemaRegistry({ path: ':memory:' });
  let detector: Promise<DuplicateDetector> | undefined;
  const curate = { quality: QualityGateOptionsSchema.parse({}), split: { train: 0.8, val: 0.1 }, nearDuplicateDistance: 6, maxColourDistance: 0.06 };
  const deps: LakeDeps = {
    objects,
    catalog,
    bucket: 'lake',
    normalize: resolveNormalizeOptions({ modelInput: { size: 64 }, thumbnail: { maxSide: 96 } }),
    augment: { count: 0, seed: 1 },
    captions: createCaptionNormalizer({}),
    curate,
    dedup: () => (detector ??= DuplicateDetector.load(catalog, objects, { radius: curate.nearDuplicateDistance, maxColourDistance: curate.maxColourDistance })),
  };
  return {
    deps,
    serde: avroSerdePort(new AvroSerde(registry)),
    close: async () => {
      await objects.close();
      await catalog.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
