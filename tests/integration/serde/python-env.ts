/**
 * The Python the interop test runs: one where confluent-kafka's Avro serde imports. Taken from
 * CF_INTEROP_PYTHON, else a venv cached outside the repo
 * (`${XDG_CACHE_HOME:-~/.cache}/captionflow/venv-interop`), created on first use from PyPI.
 * Debian's python3-confluent-kafka (1.7 on bookworm) is not enough: its AvroSerializer needs
 * fastavro, which Debian does not package.
 */
import { cachedVenv, type Venv } from '../../fixtures/python-venv.ts';

/** Pinned so that the interop result does not change under us. */
export const CONFLUENT_KAFKA_PY = 'confluent-kafka[avro,schemaregistry]==2.16.1';

/** A usable Python with its confluent-kafka/fastavro versions, or the reason there is none. */
export function interopPython(): Promise<Venv> {
  return cachedVenv({
    name: 'venv-interop',
    requirements: [CONFLUENT_KAFKA_PY],
    probe:
      'import confluent_kafka, fastavro; from confluent_kafka.schema_registry.avro import AvroSerializer; print(confluent_kafka.version()[0], fastavro.__version__)',
    ...(process.env['CF_INTEROP_PYTHON'] === undefined ? {} : { explicit: process.env['CF_INTEROP_PYTHON'] }),
  });
}
