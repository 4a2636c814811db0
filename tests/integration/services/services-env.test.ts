/** `npm run services -- up --env-file` against the running servers: CAPTIONFLOW_* env that captionflow loads. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../runtime/config.ts';
import { skipUnless } from './service-env.ts';

test('services up prints and writes the CAPTIONFLOW_* env pointing at the servers', { skip: skipUnless('CF_MONGO_URL', 'CF_KAFKA_BROKERS', 'CF_S3_ENDPOINT', 'CF_SCHEMA_REGISTRY_URL') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cf-env-'));
  try {
    const file = join(dir, 'captionflow.env');
    // The servers are up already: `up` only reports their env.
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'deploy/services/cli.ts', 'up', '--write-env', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(out, /^export CF_MONGO_URL=/m, 'the CF_* env the tests read is still printed');
    assert.match(out, /^export CAPTIONFLOW_MODE=distributed$/m);
    const env = Object.fromEntries(readFileSync(file, 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const config = loadConfig({ env });
    assert.equal(config.mode, 'distributed');
    assert.equal(config.mongo.url, process.env.CF_MONGO_URL);
    assert.deepEqual(config.kafka.brokers, process.env.CF_KAFKA_BROKERS?.split(','));
    assert.equal(config.s3.endpoint, process.env.CF_S3_ENDPOINT);
    assert.equal(config.schemaRegistry.url, process.env.CF_SCHEMA_REGISTRY_URL);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
