import type { AvroSerde } from '../serde/avro-serde.ts';
import type { Serde } from '../ports.ts';

/**
 * The engine's Serde port over the Avro serde. `contractOf` maps a physical topic name to the
 * logical topic whose contract it carries — for deployments that prefix or suffix topic names
 * (`staging.image.ingested`) and for benchmarks on throw-away topics. Identity by default.
 */
export function avroSerdePort(avro: AvroSerde, contractOf: (topic: string) => string = (t) => t): Serde {
  return {
    encode: (topic, value) => avro.encode(contractOf(topic), value),
    decode: async (topic, bytes) => {
      const { schemaId, value } = await avro.decode(bytes, contractOf(topic));
      return { schemaId, value };
    },
  };
}
