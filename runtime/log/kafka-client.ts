import type { EventLog } from '../ports.ts';
import { createKafkaLog, type KafkaLogOptions } from './kafka-log.ts';
import { createPlatformaticKafkaLog } from './platformatic-kafka-log.ts';
import { createConfluentKafkaLog } from './confluent-kafka-log.ts';

/** The Kafka client libraries the event log can run on (config `kafka.client`). */
export const KAFKA_CLIENTS = ['kafkajs', 'platformatic', 'confluent'] as const;

/** One of {@link KAFKA_CLIENTS}. */
export type KafkaClientName = (typeof KAFKA_CLIENTS)[number];

/**
 * The Kafka event log on the chosen client; all pass the same Kafka tests. `confluent` runs on
 * librdkafka (`@confluentinc/kafka-javascript`), which is not a dependency: it is loaded when
 * first used, from `options.confluentModule` or from captionflow's own node_modules.
 */
export function createKafkaLogWith(client: KafkaClientName, options: KafkaLogOptions): EventLog {
  if (client === 'platformatic') return createPlatformaticKafkaLog(options);
  if (client === 'confluent') return createConfluentKafkaLog(options);
  return createKafkaLog(options);
}
