/** The scheduler's replica-safety cases on two connections to one SQLite catalog file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteCatalog } from '../../../runtime/catalog/sqlite-catalog.ts';
import { replicaJobCases } from './replica-jobs-suite.ts';

replicaJobCases('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cf-jobs-'));
  const path = join(dir, 'catalog.sqlite');
  const a = await openSqliteCatalog({ path });
  const b = await openSqliteCatalog({ path });
  return {
    a,
    b,
    close: async () => {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
