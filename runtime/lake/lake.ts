/**
 * The lake: an object store and the catalog that describes its objects, opened together for a
 * deployment. Functions over the whole lake (datasets, lineage, consistency, SQL) take a
 * {@link Lake}.
 *
 * Write order, everywhere: the object first, then the catalog record that points at it. A crash
 * between the two leaves an orphan object (removed by the consistency repair after its grace
 * period), never a record pointing at nothing.
 */
import { join } from 'node:path';
import type { Catalog } from '../catalog/catalog.ts';
import { openMongoCatalog } from '../catalog/mongo-catalog.ts';
import { openSqliteCatalog } from '../catalog/sqlite-catalog.ts';
import { openFsObjectStore } from './fs-object-store.ts';
import type { ObjectStore } from './object-store.ts';
import { openS3ObjectStore } from './s3-object-store.ts';

/** An object store and its catalog. */
export interface Lake {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
}

/** Where the lake lives. */
export type LakeConfig =
  | {
      readonly mode: 'embedded';
      /** The data directory: objects under `<dataDir>/lake`, the catalog in `<dataDir>/catalog.sqlite`. */
      readonly dataDir: string;
      readonly durable?: boolean;
    }
  | {
      readonly mode: 'distributed';
      readonly s3: {
        readonly endpoint: string;
        readonly accessKey: string;
        readonly secretKey: string;
        readonly region?: string;
        readonly bucket: string;
      };
      readonly mongo: { readonly url: string; readonly dbName?: string };
    };

/** Open the object store and catalog of a deployment. */
export async function openLake(config: LakeConfig): Promise<Lake & { close(): Promise<void> }> {
  if (config.mode === 'embedded') {
    const store = await openFsObjectStore({
      root: join(config.dataDir, 'lake'),
      ...(config.durable === undefined ? {} : { durable: config.durable }),
    });
    const catalog = await openSqliteCatalog({ path: join(config.dataDir, 'catalog.sqlite') });
    return { store, catalog, close: async () => void (await Promise.all([store.close(), catalog.close()])) };
  }
  const store = openS3ObjectStore(config.s3);
  let catalog: Catalog;
  try {
    catalog = await openMongoCatalog(config.mongo);
  } catch (err) {
    await store.close();
    throw err;
  }
  return { store, catalog, close: async () => void (await Promise.all([store.close(), catalog.close()])) };
}
