/**
 * Hot swap driven by the event log: every serving replica reads `model.promoted` in a consumer
 * group of its own (each replica must see every promotion), from the end of the topic (the
 * current champion is read from the registry at start), and swaps the alias it names.
 */
import { randomBytes } from 'node:crypto';
import type { ModelPromoted } from '../../schemas/generated/types.ts';
import { Topics } from '../../schemas/topics.ts';
import type { EventLog, LogConsumer, Serde } from '../../runtime/ports.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { ModelHost } from './model-host.ts';

/** What the listener needs. */
export interface PromotionListenerDeps {
  readonly log: EventLog;
  readonly serde: Serde;
  readonly logger: Logger;
  readonly host: ModelHost;
  /** The model served (promotions of other models are ignored). */
  readonly modelName: string;
  /** Physical name of a logical topic or group (the deployment's topic prefix). */
  readonly physical: (logical: string) => string;
}

/** A running listener. */
export interface PromotionListener {
  stop(): Promise<void>;
}

/** Start listening; resolves once the consumer runs (promotions from then on are seen). */
export async function listenForPromotions(deps: PromotionListenerDeps): Promise<PromotionListener> {
  const topic = deps.physical(Topics.modelPromoted.name);
  const consumer: LogConsumer = await deps.log.consumer({
    group: deps.physical(`captionflow-serving-${randomBytes(6).toString('hex')}`),
    topics: [topic],
    fromBeginning: false,
  });
  const running = consumer.run(async (batch, control) => {
    for (const record of batch.records) {
      if (!control.isRunning()) return;
      if (record.value === null) continue;
      let event: ModelPromoted;
      try {
        event = (await deps.serde.decode(topic, record.value)).value as ModelPromoted;
      } catch (err) {
        deps.logger.warn(
          { topic, offset: record.offset, err: (err as Error).message },
          'unreadable model.promoted record skipped',
        );
        continue;
      }
      if (event.modelName !== deps.modelName) continue;
      deps.logger.info(
        { alias: event.alias, version: event.modelVersion, reason: event.reason },
        'model promoted',
      );
      await deps.host.swap(event.alias, event.modelVersion);
      await control.commit((BigInt(record.offset) + 1n).toString());
    }
  });
  running.catch((err: unknown) =>
    deps.logger.error({ err: (err as Error).message }, 'model.promoted listener stopped'),
  );
  return {
    stop: async () => {
      await consumer.stop();
      await running.catch(() => undefined);
    },
  };
}
