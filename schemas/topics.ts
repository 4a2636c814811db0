/**
 * The single registry of captionflow's topics: name, value schema, key, headers, subject.
 *
 * Code refers to topics through {@link Topics} (`Topics.imageIngested`), never by string, so
 * a topic's schema, its TS value type and its subject cannot drift apart. Subjects follow the
 * Confluent TopicNameStrategy: `<topic>-value` (keys are plain UTF-8 strings, not Avro).
 */
import type { Type } from 'avsc';
import { loadAvroSchemas } from './avro-schemas.ts';
import type { AvroSchemaJson, AvroSchemaFile } from './avro-schemas.ts';
import type {
  CaptionGenerated,
  CaptureReceived,
  DeadLetter,
  ImageCurated,
  ImageIngested,
  ImageNormalized,
  JobRun,
  ModelPromoted,
  ModelRegistered,
} from './generated/types.ts';

/** A record header a topic's producers set (header values are UTF-8 strings). */
export interface HeaderSpec {
  readonly name: string;
  readonly description: string;
  readonly required: boolean;
}

/** How a topic's records are keyed. Keys are UTF-8 strings; the key decides the partition. */
export interface TopicKeySpec {
  readonly description: string;
  /** Value field whose content is the key (e.g. `imageId`); null when the key is not a value field. */
  readonly field: string | null;
}

/**
 * The type-level marker of a topic's value type, shared with the engine's `TopicRef` so a
 * schemas/ topic and an engine topic reference carry their value type the same way.
 */
export declare const topicValue: unique symbol;

/**
 * What a serde needs to know of a topic: its name, subject and value schema. `V` is the TS
 * type of its values; it exists at the type level only.
 */
export interface TopicContract<V = unknown> {
  /** Topic name on the log, e.g. `image.ingested`. */
  readonly name: string;
  /** Schema-registry subject of the values (TopicNameStrategy: `<topic>-value`). */
  readonly subject: string;
  /** Self-contained value schema (named types of other files inlined): what gets registered. */
  readonly schema: AvroSchemaJson;
  /** Type-level only: carries `V`. */
  readonly [topicValue]?: V;
}

/** One captionflow topic. `V` is the TS type of its values (generated from the schema). */
export interface TopicSpec<V = unknown, N extends string = string> extends TopicContract<V> {
  readonly name: N;
  /** What the topic carries and who writes it. */
  readonly description: string;
  /** Full Avro name of the value record, e.g. `io.captionflow.v1.ImageIngested`. */
  readonly recordName: string;
  /** `.avsc` file of the value record in `schemas/avro/`. */
  readonly schemaFile: string;
  /** avsc type of {@link TopicContract.schema}. */
  readonly type: Type;
  readonly key: TopicKeySpec;
  readonly headers: readonly HeaderSpec[];
}

/** The value type of a topic: `TopicValue<typeof Topics.imageIngested>` is `ImageIngested`. */
export type TopicValue<S> = S extends TopicContract<infer V> ? V : never;

/**
 * A contract for a topic outside {@link Topics} (tests, tools): subject `<name>-value`.
 * `V` is whatever TS type the caller declares for the values.
 */
export function topicContract<V = unknown>(name: string, schema: AvroSchemaJson): TopicContract<V> {
  return { name, subject: `${name}-value`, schema };
}

const COMMON_HEADERS: readonly HeaderSpec[] = [
  {
    name: 'traceparent',
    description: 'W3C Trace Context of the operation that produced the record, for distributed tracing.',
    required: false,
  },
  {
    name: 'cf-event-id',
    description: 'The value eventId, so consumers and tools can deduplicate without decoding the value.',
    required: false,
  },
  { name: 'cf-producer', description: 'Name of the producing service or external system.', required: false },
];

const schemaFiles: ReadonlyMap<string, AvroSchemaFile> = new Map(loadAvroSchemas().map((f) => [f.file, f]));

function topic<V, N extends string>(
  name: N,
  file: string,
  spec: { description: string; key: TopicKeySpec; headers?: readonly HeaderSpec[] },
): TopicSpec<V, N> {
  const schema = schemaFiles.get(file);
  if (schema === undefined) throw new Error(`schemas/topics.ts: no schemas/avro/${file} for topic ${name}`);
  return {
    name,
    subject: `${name}-value`,
    description: spec.description,
    recordName: schema.fullName,
    schemaFile: file,
    schema: schema.schema,
    type: schema.type,
    key: spec.key,
    headers: [...COMMON_HEADERS, ...(spec.headers ?? [])],
  };
}

const IMAGE_KEY: TopicKeySpec = {
  description:
    'imageId: lowercase hex SHA-256 of the original image bytes, so every event of an image lands on one partition.',
  field: 'imageId',
};

/** Every captionflow topic, by camelCase name. */
export const Topics = {
  imageIngested: topic<ImageIngested, 'image.ingested'>('image.ingested', 'image-ingested.avsc', {
    description:
      'Raw (bronze) images with their captions, from the upload API, mobile captures, bulk imports and external producers. The image bytes are in the lake before the event is produced.',
    key: IMAGE_KEY,
  }),
  captureReceived: topic<CaptureReceived, 'capture.received'>('capture.received', 'capture-received.avsc', {
    description:
      'Mobile captures received by the capture API (photo already in bronze, capture time, location, caption).',
    key: {
      description: 'deviceId: captures of one device stay in order on one partition.',
      field: 'deviceId',
    },
  }),
  imageNormalized: topic<ImageNormalized, 'image.normalized'>('image.normalized', 'image-normalized.avsc', {
    description:
      'Normalized (silver) images: model input and thumbnail objects, size, format, perceptual hashes, quality measures, normalized captions.',
    key: IMAGE_KEY,
  }),
  imageCurated: topic<ImageCurated, 'image.curated'>('image.curated', 'image-curated.avsc', {
    description:
      'Curation decisions (gold): dedup, quality gate, dataset split and gold objects; also emitted for rejected images.',
    key: IMAGE_KEY,
  }),
  captionGenerated: topic<CaptionGenerated, 'caption.generated'>(
    'caption.generated',
    'caption-generated.avsc',
    {
      description: 'Captions served or proposed by a model, with the model version and score.',
      key: IMAGE_KEY,
    },
  ),
  modelRegistered: topic<ModelRegistered, 'model.registered'>('model.registered', 'model-registered.avsc', {
    description: 'Model versions added to the model registry after training and evaluation.',
    key: { description: 'modelName: the versions of a model stay in order.', field: 'modelName' },
  }),
  modelPromoted: topic<ModelPromoted, 'model.promoted'>('model.promoted', 'model-promoted.avsc', {
    description: 'A model version became the one behind an alias; serving replicas hot-reload it.',
    key: { description: 'modelName: promotions of a model stay in order.', field: 'modelName' },
  }),
  jobRun: topic<JobRun, 'job.run'>('job.run', 'job-run.avsc', {
    description: 'State changes of scheduled and event-triggered job runs (started, then a terminal status).',
    key: { description: 'jobName: the runs of a job stay in order.', field: 'jobName' },
  }),
  deadLetter: topic<DeadLetter, 'dead-letter'>('dead-letter', 'dead-letter.avsc', {
    description:
      'Records a topology step could not process, with their original bytes, key and headers and the error, for inspection and replay.',
    key: {
      description:
        'The original record key, unchanged (empty when it had none), so a replay keeps the partitioning.',
      field: null,
    },
    headers: [
      {
        name: 'cf-error-code',
        description: 'The errorCode of the value, for filtering without decoding.',
        required: true,
      },
      { name: 'cf-original-topic', description: 'The originalTopic of the value.', required: true },
    ],
  }),
} as const;

/** The topics map's type. */
export type TopicsMap = typeof Topics;
/** A topic's camelCase key in {@link Topics}. */
export type TopicKey = keyof TopicsMap;
/** A topic name on the log, e.g. `image.ingested`. */
export type TopicName = TopicsMap[TopicKey]['name'];
/** Any topic of {@link Topics}. */
export type AnyTopic = TopicsMap[TopicKey];

/** All topics, in declaration order. */
export const allTopics: readonly AnyTopic[] = Object.values(Topics);

/** The topic named `name`; undefined for a name that is not a captionflow topic. */
export function topicByName(name: string): AnyTopic | undefined {
  return allTopics.find((t) => t.name === name);
}
