/**
 * The lake contract on the embedded adapters: filesystem object store + SQLite catalog, each
 * test in a fresh temporary directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteCatalog } from '../../../runtime/catalog/sqlite-catalog.ts';
import { openFsObjectStore } from '../../../runtime/lake/fs-object-store.ts';
import { runLakeContract } from './lake-contract.ts';

runLakeContract('fs + sqlite', async ({ now }) => {
  const dir = await mkdtemp(join(tmpdir(), 'cf-lake-'));
  const store = await openFsObjectStore({ root: join(dir, 'lake') });
  const catalog = await openSqliteCatalog({ path: join(dir, 'catalog.sqlite'), now });
  return {
    store,
    catalog,
    cleanup: async () => {
      await catalog.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
