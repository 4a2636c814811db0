import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENV_KEYS, loadConfig } from '../../../runtime/config.ts';
import { captionflowEnv, CAPTIONFLOW_FROM_CF, envFileText } from '../../../deploy/services/captionflow-env.ts';

const CF = {
  CF_KAFKA_BROKERS: '127.0.0.1:19092',
  CF_SCHEMA_REGISTRY_URL: 'http://127.0.0.1:18081',
  CF_S3_ENDPOINT: 'http://127.0.0.1:18333',
  CF_S3_ACCESS_KEY: 'ak',
  CF_S3_SECRET_KEY: 'sk',
  CF_S3_REGION: 'us-east-1',
  CF_MONGO_URL: 'mongodb://127.0.0.1:27018',
};

test('every CAPTIONFLOW_* variable services up writes is one runtime/config.ts reads', () => {
  for (const name of [...Object.values(CAPTIONFLOW_FROM_CF), 'CAPTIONFLOW_MODE']) assert.ok(name in ENV_KEYS, `${name} is in ENV_KEYS`);
});

test('the CAPTIONFLOW_* env of the four servers loads as a distributed config pointing at them', () => {
  const config = loadConfig({ env: captionflowEnv(CF) });
  assert.equal(config.mode, 'distributed');
  assert.deepEqual(config.kafka.brokers, ['127.0.0.1:19092']);
  assert.equal(config.schemaRegistry.url, CF.CF_SCHEMA_REGISTRY_URL);
  assert.equal(config.s3.endpoint, CF.CF_S3_ENDPOINT);
  assert.equal(config.s3.secretKey, 'sk');
  assert.equal(config.mongo.url, CF.CF_MONGO_URL);
});

test('with only some servers up, the mode is left alone and only their variables are set', () => {
  assert.deepEqual(captionflowEnv({ CF_MONGO_URL: CF.CF_MONGO_URL }), { CAPTIONFLOW_MONGO_URL: CF.CF_MONGO_URL });
});

test('the env file is K=V lines and refuses a value with a line break', () => {
  assert.equal(envFileText({ A: '1', B: 'x y' }), 'A=1\nB=x y\n');
  assert.throws(() => envFileText({ A: 'a\nb' }), /line break/);
});
