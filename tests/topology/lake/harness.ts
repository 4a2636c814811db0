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
import { NearDuplicates } from '../../../topologies/near-duplicates.ts';
import type { LakeDeps } from '../../../topologies/lake-services.ts';
import type { Serde } from '../../../runtime/ports.ts';
import type { Catalog } from '../../../runtime/catalog/catalog.ts';
import type { ObjectStore } from '../../../runtime/lake/object-store.ts';

/** The lake dependencies of the tests over an object store and a catalog (each call: its own near-duplicate judge). */
export function lakeDepsOf(objects: ObjectStore, catalog: Catalog): LakeDeps {
  const curate = { quality: QualityGateOptionsSchema.parse({}), split: { train: 0.8, val: 0.1 }, nearDuplicateDistance: 6, maxColourDistance: 0.06 };
  return {
    objects,
    catalog,
    bucket: 'lake',
    normalize: resolveNormalizeOptions({ modelInput: { size: 64 }, thumbnail: { maxSide: 96 } }),
    augment: { count: 0, seed: 1 },
    captions: createCaptionNormalizer({}),
    curate,
    dedup: new NearDuplicates(catalog, objects, { radius: curate.nearDuplicateDistance, maxColourDistance: curate.maxColourDistance }),
  };
}

/** A lake on temp storage (fs objects + SQLite catalog) with the Avro serde on an in-memory registry. */
export async function tempLake(): Promise<{
  deps: LakeDeps;
  serde: Serde;
  /** The dependencies of another curate instance: its own catalog connection on the same file, its own judge. */
  replica(): Promise<LakeDeps>;
  close(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'cf-lake-topology-'));
  const open = async (): Promise<LakeDeps> =>
    lakeDepsOf(await openFsObjectStore({ root: join(dir, 'lake'), durable: false }), await openSqliteCatalog({ path: join(dir, 'catalog.sqlite') }));
  const opened = [await open()];
  const registry = new EmbeddedSchemaRegistry({ path: ':memory:' });
  return {
    deps: opened[0]!,
    serde: avroSerdePort(new AvroSerde(registry)),
    replica: async () => {
      const deps = await open();
      opened.push(deps);
      return deps;
    },
    close: async () => {
      for (const s of opened) {
        await s.objects.close();
        await s.catalog.close();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
