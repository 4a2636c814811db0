import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installPlan } from '../../../deploy/services/manager.ts';

/**
 * `npm test` on a fresh machine says what it is about to install and roughly how long it takes
 * (scripts/test.ts prints the plan before the servers start). The plan reads the cache: an
 * empty cache plans every server, the slowest (the S3 server's Go build) named as such.
 */
test('an empty cache plans every server with what it installs and how long it takes', () => {
  const before = process.env.CAPTIONFLOW_CACHE;
  const empty = mkdtempSync(join(tmpdir(), 'cf-cache-'));
  try {
    process.env.CAPTIONFLOW_CACHE = empty;
    const plan = installPlan(['kafka', 'registry', 's3', 'mongo']);
    assert.deepEqual(plan.map((p) => p.name), ['kafka', 'registry', 's3', 'mongo']);
    for (const p of plan) assert.match(p.installs, /≈\d/, `${p.name} says how long`);
    assert.match(plan.find((p) => p.name === 's3')!.installs, /slowest/);
    assert.deepEqual(installPlan([]), []);
  } finally {
    if (before === undefined) delete process.env.CAPTIONFLOW_CACHE;
    else process.env.CAPTIONFLOW_CACHE = before;
    rmSync(empty, { recursive: true, force: true });
  }
});
