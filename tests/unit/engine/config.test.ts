import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../runtime/config.ts';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';

test('defaults select the embedded mode with no servers', () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.mode, 'embedded');
  assert.equal(c.log.fsync, 'batch');
  assert.ok(c.workers.size >= 1);
});

test('env overrides the file, which overrides defaults; lists split on commas', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cf-config-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ mode: 'distributed', kafka: { brokers: ['a:1'] }, http: { port: 8000 } }));
    const c = loadConfig({ env: { CAPTIONFLOW_CONFIG: file, CAPTIONFLOW_HTTP_PORT: '8100', CAPTIONFLOW_KAFKA_BROKERS: 'b:1, c:2' } });
    assert.equal(c.mode, 'distributed');
    assert.equal(c.http.port, 8100);
    assert.deepEqual(c.kafka.brokers, ['b:1', 'c:2']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('booleans from the environment are true or false, nothing else', () => {
  assert.equal(loadConfig({ env: {} }).models.trainOnAugmentations, true);
  assert.equal(loadConfig({ env: { CAPTIONFLOW_TRAIN_ON_AUGMENTATIONS: 'false' } }).models.trainOnAugmentations, false);
  assert.throws(
    () => loadConfig({ env: { CAPTIONFLOW_TRAIN_ON_AUGMENTATIONS: 'no' } }),
    /models\.trainOnAugmentations \(from CAPTIONFLOW_TRAIN_ON_AUGMENTATIONS\): got "no"/,
  );
});

test('a bad value fails at start naming the key, the variable, the value and the expectation', () => {
  assert.throws(
    () => loadConfig({ env: { CAPTIONFLOW_HTTP_PORT: '70000', CAPTIONFLOW_LOG_FSYNC: 'sometimes' } }),
    (err: unknown) => {
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, ErrorCodes.CONFIG_INVALID);
      assert.match(err.message, /http\.port \(from CAPTIONFLOW_HTTP_PORT\): got "70000", expected .*65535/);
      assert.match(err.message, /log\.fsync \(from CAPTIONFLOW_LOG_FSYNC\): got "sometimes", expected .*always.*batch/);
      return true;
    },
  );
});

test('secrets are never echoed in configuration errors', () => {
  assert.throws(
    () => loadConfig({ env: { CAPTIONFLOW_API_KEYS: 'hunter2' }, overrides: { 'http.apiKeys': 42 } }),
    (err: unknown) => err instanceof PipelineError && /http\.apiKeys.*: got \[redacted\]/.test(err.message) && !/hunter2|42/.test(err.message),
  );
});
