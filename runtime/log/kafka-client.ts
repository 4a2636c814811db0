import type { EventLog } from '../ports.ts';
import { createKafkaLog, type KafkaLogOptions } from './kafka-log.ts';
import { createPlatformaticKafkaLog } from './platformatic-kafka-log.ts';

/** The Kafka client libraries the event log can run on (config `kafka.client`). */
export const KAFKA_CLIENTS = ['kafkajs', 'platformatic'] as const;

/** One of {@link KAFKA_CLIENTS}. */
export type KafkaClientName = (typeof KAFKA_CLIENTS)[number];

/** The Kafka event log on the chosen client; both pass the same log contract and Kafka tests. */
export function createKafkaLogWith(client: KafkaClientName, options: KafkaLogOptions): EventLog {
  return client === 'platformatic' ? createPlatformaticKafkaLog(options) : createKafkaLog(options);
}
