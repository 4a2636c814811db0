import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe } from '../../../runtime/engine/describe.ts';
import { pipeline } from '../../../app/pipeline.ts';

/**
 * Snapshot tests of the pipelines' graphs: a change of shape (a step added, renamed, moved to
 * the worker pool, a policy changed) fails here until the snapshot is updated on purpose with
 * `UPDATE_SNAPSHOTS=1 node --import tsx --test tests/unit/topologies/describe.test.ts`.
 */
for (const { topology: t } of pipeline.topologies) {
  test(`describe(${t.name}) matches its snapshot`, () => {
    const file = new URL(`./snapshots/${t.name}.txt`, import.meta.url);
    const text = `${describe(t)}\n`;
    if (process.env.UPDATE_SNAPSHOTS === '1' || !existsSync(file)) {
      // A missing snapshot is written once; CI never writes (a missing file there fails below).
      if (process.env.CI === 'true' && !existsSync(file)) assert.fail(`snapshot ${file.pathname} is missing`);
      writeFileSync(file, text);
    }
    assert.equal(text, readFileSync(file, 'utf8'));
  });
}
