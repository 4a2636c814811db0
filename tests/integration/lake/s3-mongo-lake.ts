/**
 * A fresh lake on the distributed adapters: S3 object store (the SeaweedFS server) + MongoDB
 * catalog (FerretDB), on a new bucket and a new database, removed by `cleanup`. Shared by the
 * integration suites that run a unit-tier suite on the servers (lake contract, query routes).
 * Needs the servers `deploy/services/manager.ts` starts (`up(['s3', 'mongo'])`) and their env vars.
 */
import { randomBytes } from 'node:crypto';
import { dropMongoCatalogDatabase, openMongoCatalog } from '../../../runtime/catalog/mongo-catalog.ts';
import { openS3ObjectStore } from '../../../runtime/lake/s3-object-store.ts';
import type { LakeFactory, LakeFixture } from '../../unit/lake/lake-fixtures.ts';

const REQUIRED = ['CF_S3_ENDPOINT', 'CF_S3_ACCESS_KEY', 'CF_S3_SECRET_KEY', 'CF_MONGO_URL'] as const;
const env = (name: string): string => process.env[name] ?? '';

/** Options for a suite's `skip`: the missing env vars named, or nothing when all are set. */
export function s3MongoSkip(): { skip?: string } {
  const missing = REQUIRED.filter((name) => env(name) === '');
  return missing.length === 0
    ? {}
    : { skip: `set ${missing.join(', ')} (deploy/services/manager.ts up(['s3','mongo']) prints them)` };
}

/** Builds a lake on a fresh bucket and database of the test servers (`bucket`, `dbName`: their names). */
export async function openS3MongoLake({
  now,
}: {
  now: () => Date;
}): Promise<LakeFixture & { bucket: string; dbName: string }> {
  const suffix = randomBytes(6).toString('hex');
  const bucket = `cf-test-${suffix}`;
  const dbName = `cf_test_${suffix}`;
  const store = openS3ObjectStore({
    endpoint: env('CF_S3_ENDPOINT'),
    accessKey: env('CF_S3_ACCESS_KEY'),
    secretKey: env('CF_S3_SECRET_KEY'),
    ...(env('CF_S3_REGION') === '' ? {} : { region: env('CF_S3_REGION') }),
    bucket,
    // Few attempts: a test against a dead server should fail fast, not back off for seconds.
    retry: { attempts: 2, baseDelayMs: 50 },
  });
  const catalog = await openMongoCatalog({
    url: env('CF_MONGO_URL'),
    dbName,
    now,
    retry: { attempts: 2, baseDelayMs: 50 },
  });
  return {
    bucket,
    dbName,
    store,
    catalog,
    cleanup: async () => {
      await catalog.close();
      await store.destroyBucket();
      await store.close();
      await dropMongoCatalogDatabase(env('CF_MONGO_URL'), dbName);
    },
  };
}

/** {@link openS3MongoLake} as a {@link LakeFactory}. */
export const s3MongoLake: LakeFactory = openS3MongoLake;
