/** The scheduler's replica-safety cases on two client connections to one MongoDB-wire database (FerretDB here). */
import { dropMongoCatalogDatabase, openMongoCatalog } from '../../../runtime/catalog/mongo-catalog.ts';
import { replicaJobCases } from '../../unit/jobs/replica-jobs-suite.ts';
import { mustEnv, skipUnless, uniqueName } from '../services/service-env.ts';

const skip = skipUnless('CF_MONGO_URL');

replicaJobCases(
  'mongo wire',
  async () => {
    const url = mustEnv('CF_MONGO_URL');
    const dbName = uniqueName('jobs').replace(/-/g, '_');
    const a = await openMongoCatalog({ url, dbName });
    const b = await openMongoCatalog({ url, dbName });
    return {
      a,
      b,
      close: async () => {
        await a.close();
        await b.close();
        await dropMongoCatalogDatabase(url, dbName);
      },
    };
  },
  { skip },
);
