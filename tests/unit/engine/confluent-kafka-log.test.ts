import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, PipelineError } from '../../../schemas/errors.ts';
import { createKafkaLogWith } from '../../../runtime/log/kafka-client.ts';
import { retryBudgetMs } from '../../../runtime/log/confluent-kafka-log.ts';
import { loadConfig } from '../../../runtime/config.ts';

test('the librdkafka client, when its package cannot be loaded, fails with CONFIG_INVALID naming how to install it', async () => {
  const log = createKafkaLogWith('confluent', { brokers: ['127.0.0.1:1'], confluentModule: '/nonexistent/kafka-javascript' });
  await assert.rejects(
    () => log.ensureTopics([{ name: 't' }]),
    (err: unknown) =>
      err instanceof PipelineError &&
      err.code === ErrorCodes.CONFIG_INVALID &&
      !err.retriable &&
      err.message.includes('npm install @confluentinc/kafka-javascript@') &&
      err.message.includes('CAPTIONFLOW_KAFKA_CONFLUENT_MODULE'),
  );
  await log.close();
});

test('kafka.client takes confluent and kafka.confluentModule comes from CAPTIONFLOW_KAFKA_CONFLUENT_MODULE', () => {
  const c = loadConfig({ env: { CAPTIONFLOW_KAFKA_CLIENT: 'confluent', CAPTIONFLOW_KAFKA_CONFLUENT_MODULE: '/opt/ckjs' } });
  assert.equal(c.kafka.client, 'confluent');
  assert.equal(c.kafka.confluentModule, '/opt/ckjs');
  assert.throws(() => loadConfig({ env: { CAPTIONFLOW_KAFKA_CLIENT: 'rdkafka' } }));
});

test('a send times out after what the kafkajs adapter retries take: 200 ms doubling, 30 s at most a step', () => {
  assert.equal(retryBudgetMs(0), 200);
  assert.equal(retryBudgetMs(2), 200 + 400 + 800);
  assert.equal(retryBudgetMs(8), 200 + 400 + 800 + 1_600 + 3_200 + 6_400 + 12_800 + 25_600 + 30_000);
});
