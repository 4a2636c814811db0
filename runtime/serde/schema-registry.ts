/**
 * The SchemaRegistry port: where writer schemas are registered under a subject and looked up
 * by their global id. Two adapters implement it with the same id semantics — the embedded
 * SQLite store ({@link ./embedded-schema-registry.ts}) and any Confluent-compatible registry
 * over REST ({@link ./confluent-schema-registry.ts}) — so framed records are the same bytes
 * in both deployments.
 */
import type { AvroSchemaJson } from '../../schemas/avro-schemas.ts';

export type { AvroSchemaJson };

/** A schema version of a subject. */
export interface SubjectVersion {
  /** Global schema id: the same schema has the same id in every subject. */
  readonly id: number;
  /** Version of the schema within the subject, from 1. */
  readonly version: number;
  readonly schema: AvroSchemaJson;
}

/** Stores Avro schemas by subject and by global id. */
export interface SchemaRegistry {
  /**
   * Register `schema` under `subject` and return its global id. Registering a schema the
   * subject already has returns the same id and adds no version.
   * @throws PipelineError `SCHEMA_INCOMPATIBLE` when the subject's compatibility rule rejects
   *   it, `SCHEMA_INVALID` for a schema that does not parse, `SCHEMA_REGISTRY_UNAVAILABLE`
   *   (retriable) when the registry cannot be reached.
   */
  register(subject: string, schema: AvroSchemaJson): Promise<number>;
  /**
   * The schema with global id `id`.
   * @throws PipelineError `SCHEMA_UNKNOWN_ID` when there is none.
   */
  getById(id: number): Promise<AvroSchemaJson>;
  /**
   * The latest version of a subject.
   * @throws PipelineError `SCHEMA_SUBJECT_UNKNOWN` when the subject has no version.
   */
  getLatest(subject: string): Promise<SubjectVersion>;
  /** Release connections or files. */
  close?(): Promise<void>;
}
