import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openLake } from '../../../runtime/lake/lake.ts';
import { putContent, sha } from './lake-fixtures.ts';

describe('openLake', () => {
  it('opens the embedded lake in the data directory: objects under lake/, catalog in catalog.sqlite', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cf-open-'));
    try {
      const lake = await openLake({ mode: 'embedded', dataDir });
      const bytes = Buffer.from('hello lake');
      const bronze = await putContent(lake.store, 'bronze', bytes, 'txt');
      await lake.catalog.images.upsert({ id: sha(bytes), objects: { bronze } });
      await lake.close();
      assert.ok(existsSync(join(dataDir, 'lake', 'bronze', bronze.key.split('/')[1] as string)));
      assert.ok(existsSync(join(dataDir, 'catalog.sqlite')));
      const again = await openLake({ mode: 'embedded', dataDir });
      assert.equal((await again.catalog.images.get(sha(bytes)))?.objects.bronze?.key, bronze.key);
      assert.equal(Buffer.from(await again.store.get(bronze.key)).toString(), 'hello lake');
      await again.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
