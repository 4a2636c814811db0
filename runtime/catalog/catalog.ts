/**
 * The Catalog port: typed repositories for what the lake knows about its objects — images,
 * captions, dataset versions, models and job runs — and curate's near-duplicate state store.
 *
 * Every write is an idempotent upsert by natural key (image id = sha256 of the original bytes,
 * caption id = hash of image id and identity text, dataset version id, model version, job run
 * id). Replaying a write changes nothing: the record's content hash is compared before writing,
 * so `updatedAt` does not move on an identical replay. Upserts of images, captions, models and
 * job runs MERGE into the stored record (fields left undefined keep their value) with the rules
 * documented on each upsert type, so that topologies can each write their part in any order.
 *
 * No client type crosses this interface. Failures are PipelineErrors: CATALOG_UNAVAILABLE
 * (retriable when the server may come back), CATALOG_RECORD_INVALID, CATALOG_CONFLICT.
 */
import type { JsonValue } from './canonical-json.ts';
import type { ObjectRef } from '../lake/object-store.ts';
import type { DeadLetterRepository } from './dead-letter-repository.ts';
import type { JobLeaseRepository } from './job-lease-repository.ts';
import type { AwaitingModelRepository } from './awaiting-model-repository.ts';

export type { JsonValue } from './canonical-json.ts';
export type { ObjectRef } from '../lake/object-store.ts';
export type { DeadLetterEntry, DeadLetterQuery, DeadLetterReplay, DeadLetterRepository } from './dead-letter-repository.ts';
export type { AcquireResult, JobLease, JobLeaseRepository, TriggerClaim } from './job-lease-repository.ts';
export type { AwaitingModelEntry, AwaitingModelRepository, AwaitingModelResolution, AwaitingModelStatus } from './awaiting-model-repository.ts';

/** The layers an image moves through. */
export type ImageLayer = 'bronze' | 'silver' | 'gold';

/**
 * Where an image is in the pipeline. Ranked ingested < normalized < curated = rejected = duplicate:
 * an upsert never moves an image to a lower rank (a replayed older event cannot undo curation),
 * and among the final three the latest write wins (re-curation may change the decision).
 */
export type ImageStatus = 'ingested' | 'normalized' | 'curated' | 'rejected' | 'duplicate';

/** Dataset split of a curated image. */
export type Split = 'train' | 'val' | 'test';

/** All splits, in report order. */
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];

/** One processing step an image went through, written by the topology that did it. */
export interface LineageHop {
  readonly topology: string;
  readonly sourceTopic: string;
  readonly partition: number;
  /** The event-log offset, as a decimal string (Kafka offsets are 64-bit). */
  readonly offset: string;
  readonly schemaId: number;
  readonly processingVersion: string;
  /** ISO-8601 time the step processed the record. */
  readonly at: string;
}

/** Where an image came from and what was done to it. */
export interface Lineage {
  readonly ingestEventId: string;
  readonly source: string;
  readonly hops: readonly LineageHop[];
  readonly objects: readonly ObjectRef[];
}

/**
 * A lineage contribution. Merged into the stored lineage: scalars set when given; hops added
 * unless one with the same (topology, sourceTopic, partition, offset) is there; objects added or
 * replaced by (layer, key). Hops and objects stay sorted, so the merge is order-independent.
 */
export interface LineagePatch {
  readonly ingestEventId?: string;
  readonly source?: string;
  readonly hops?: readonly LineageHop[];
  readonly objects?: readonly ObjectRef[];
}

/** Set by the consistency repair on records whose objects are missing from the store. */
export interface Integrity {
  readonly missingKeys: readonly string[];
  readonly checkedAt: string;
}

/** An image, as the catalog holds it. */
export interface ImageRecord {
  /** Lowercase hex sha256 of the original (bronze) bytes. */
  readonly id: string;
  /** The door the image first arrived by (`upload`, `mobile`, `bulk`…); never overwritten. */
  readonly source: string;
  /** Every door the image arrived by, sorted: an image sent through two doors lists both. */
  readonly sources: readonly string[];
  readonly layer: ImageLayer;
  readonly status: ImageStatus;
  readonly split: Split | null;
  /** The image's object in each layer it has reached. */
  readonly objects: Readonly<Partial<Record<ImageLayer, ObjectRef>>>;
  readonly width: number | null;
  readonly height: number | null;
  readonly format: string | null;
  /** Perceptual hashes (hex) kept for curation's near-duplicate index. */
  readonly dhash: string | null;
  readonly phash: string | null;
  readonly quality: number | null;
  /** Why the image was rejected or marked duplicate (an error code), else null. */
  readonly reason: string | null;
  /** ISO time the image was curated; set on first reaching `curated` unless given. */
  readonly curatedAt: string | null;
  readonly lineage: Lineage | null;
  /** Free-form extra fields; keys `[A-Za-z_][A-Za-z0-9_-]*`. */
  readonly attributes: Readonly<Record<string, JsonValue>>;
  readonly integrity: Integrity | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * A write to an image. Fields left undefined keep their stored value (or default on creation:
 * source `unknown`, layer `bronze`, status `ingested`, the rest null/empty). `objects` merges by
 * layer, `attributes` merges by key, `lineage` merges as described on {@link LineagePatch}.
 * `layer` and `status` only move forward (see {@link ImageStatus}).
 */
export interface ImageUpsert {
  readonly id: string;
  readonly source?: string;
  readonly layer?: ImageLayer;
  readonly status?: ImageStatus;
  readonly split?: Split | null;
  readonly objects?: Readonly<Partial<Record<ImageLayer, ObjectRef>>>;
  readonly width?: number | null;
  readonly height?: number | null;
  readonly format?: string | null;
  readonly dhash?: string | null;
  readonly phash?: string | null;
  readonly quality?: number | null;
  readonly reason?: string | null;
  readonly curatedAt?: string | null;
  readonly lineage?: LineagePatch;
  readonly attributes?: Readonly<Record<string, JsonValue>>;
}

/** Who wrote a caption. */
export type CaptionOrigin = 'human' | 'machine';

/** A caption of an image. */
export interface CaptionRecord {
  /** `cap-` + sha256 of image id and identity text (see `captionId`). */
  readonly id: string;
  readonly imageId: string;
  readonly text: string;
  /** The caption normalizer's output (defaults to the identity text). */
  readonly normalizedText: string;
  /** `human` is sticky: a machine caption with the same text does not downgrade it. */
  readonly origin: CaptionOrigin;
  readonly language: string | null;
  /** For machine captions, the model version that wrote it. */
  readonly modelVersion: string | null;
  readonly score: number | null;
  readonly source: string | null;
  readonly lineage: Lineage | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A write to a caption; the id is derived from `imageId` and `text`. */
export interface CaptionUpsert {
  readonly imageId: string;
  readonly text: string;
  readonly origin: CaptionOrigin;
  readonly normalizedText?: string;
  readonly language?: string | null;
  readonly modelVersion?: string | null;
  readonly score?: number | null;
  readonly source?: string | null;
  readonly lineage?: LineagePatch;
}

/** Which curated images a dataset version takes. All conditions must hold. */
export interface DatasetFilter {
  readonly splits?: readonly Split[];
  readonly sources?: readonly string[];
  readonly minQuality?: number;
  /** Only images curated at or before this ISO time. */
  readonly curatedBefore?: string;
}

/** Item and caption counts of a dataset version. */
export interface DatasetCounts {
  readonly train: number;
  readonly val: number;
  readonly test: number;
  readonly total: number;
  readonly captions: number;
}

/** A dataset version: immutable once written. Its manifest object lists the items. */
export interface DatasetRecord {
  /** `ds-` + the first 12 hex digits of the manifest's content hash. */
  readonly id: string;
  readonly name: string;
  readonly parent: string | null;
  readonly filter: DatasetFilter;
  readonly includeMachineCaptions: boolean;
  readonly counts: DatasetCounts;
  /** The manifest object (`manifests/<id>.json`). */
  readonly manifest: ObjectRef;
  /** The newest `curatedAt` among the items (null for an empty dataset). */
  readonly watermark: string | null;
  readonly createdAt: string;
  readonly integrity: Integrity | null;
}

/** Lifecycle of a model version. */
export type ModelStatus = 'registered' | 'evaluated' | 'rejected' | 'archived';

/** A model version. */
export interface ModelRecord {
  /** The model version, unique across models (e.g. `captioner-20260101-ab12`). */
  readonly id: string;
  readonly name: string;
  readonly datasetId: string | null;
  readonly status: ModelStatus;
  readonly metrics: Readonly<Record<string, number>>;
  /** Its objects in the `models` layer (ONNX graph, vocabulary, …). */
  readonly artifacts: readonly ObjectRef[];
  readonly params: Readonly<Record<string, JsonValue>>;
  readonly integrity: Integrity | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A write to a model; undefined fields keep their value; `metrics` and `params` merge by key. */
export interface ModelUpsert {
  readonly id: string;
  readonly name: string;
  readonly datasetId?: string | null;
  readonly status?: ModelStatus;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly artifacts?: readonly ObjectRef[];
  readonly params?: Readonly<Record<string, JsonValue>>;
}

/** A named pointer to a model version (`champion`, `challenger`). One document per alias. */
export interface ModelAlias {
  readonly name: string;
  readonly alias: string;
  readonly version: string;
  /** The version the alias pointed to before the last change. */
  readonly previous: string | null;
  readonly updatedAt: string;
}

/** Lifecycle of a job run; never moves back from a final state. */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** The plain-data error a failed job run keeps. */
export interface JobRunError {
  readonly code: string;
  readonly message: string;
  readonly retriable: boolean;
}

/** One run of a job (training, evaluation, snapshot, repair…). */
export interface JobRunRecord {
  readonly id: string;
  readonly name: string;
  readonly status: JobStatus;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly params: Readonly<Record<string, JsonValue>>;
  readonly result: Readonly<Record<string, JsonValue>> | null;
  readonly error: JobRunError | null;
  /** What started the run (`schedule`, `event`, `manual`) and its detail (cron slot, event, operator). */
  readonly trigger: string | null;
  readonly triggerDetail: string | null;
  /** The replica that ran it. */
  readonly holder: string | null;
  /** Attempts made so far. */
  readonly attempts: number;
  /** The run's log lines (the newest {@link JOB_RUN_LOG_LINES}). */
  readonly log: readonly string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** Log lines a job run record keeps. */
export const JOB_RUN_LOG_LINES = 200;

/** A write to a job run; undefined fields keep their value; status only moves forward. */
export interface JobRunUpsert {
  readonly id: string;
  readonly name: string;
  readonly status: JobStatus;
  readonly startedAt?: string | null;
  readonly finishedAt?: string | null;
  readonly params?: Readonly<Record<string, JsonValue>>;
  readonly result?: Readonly<Record<string, JsonValue>> | null;
  readonly error?: JobRunError | null;
  readonly trigger?: string | null;
  readonly triggerDetail?: string | null;
  readonly holder?: string | null;
  readonly attempts?: number;
  /** Replaces the stored lines (the run's single writer sends them all). */
  readonly log?: readonly string[];
}

/** The outcome of an upsert. */
export interface UpsertResult<T> {
  readonly record: T;
  /** True when no record had this key before. */
  readonly created: boolean;
  /** False when the write changed nothing (an identical replay): nothing was written. */
  readonly changed: boolean;
}

/** Pagination by id: pass the previous page's `next` as `after`. */
export interface PageRequest {
  /** Return records after this id in the page order (greater ascending, smaller descending). */
  readonly after?: string;
  /** Page size, 1–1000 (default 100). */
  readonly limit?: number;
  /** Id order of the pages (default ascending; every index ends with id, so both are index reads). */
  readonly order?: 'asc' | 'desc';
}

/** A page of records, by id in the requested order (ascending by default). */
export interface Page<T> {
  readonly items: readonly T[];
  /** The cursor of the next page, or null on the last page. */
  readonly next: string | null;
}

/** Which images to list; all given conditions must hold. */
export interface ImageQuery {
  readonly layer?: ImageLayer;
  readonly status?: ImageStatus;
  readonly split?: Split | null;
  readonly source?: string;
}

/** Counts per split; `none` counts images without a split. */
export interface SplitCounts {
  readonly train: number;
  readonly val: number;
  readonly test: number;
  readonly none: number;
}

/** Images. */
export interface ImageRepository {
  upsert(patch: ImageUpsert): Promise<UpsertResult<ImageRecord>>;
  get(id: string): Promise<ImageRecord | null>;
  /** The records of `ids` that exist, in the order of `ids`. */
  getMany(ids: readonly string[]): Promise<ImageRecord[]>;
  list(query: ImageQuery, page?: PageRequest): Promise<Page<ImageRecord>>;
  /** Counts per split of images with `status` (default `curated`). */
  countBySplit(status?: ImageStatus): Promise<SplitCounts>;
  /** Curated images with `curatedAt` strictly after `since` (ISO time), by id. */
  listCuratedSince(since: string, page?: PageRequest): Promise<Page<ImageRecord>>;
  countCuratedSince(since: string): Promise<number>;
  /**
   * Images updated after the position `after` (by `updatedAt`, then id) and before `until` (ISO),
   * in that order, at most `limit` (1–1000): the changes feed's page.
   */
  listUpdated(after: { readonly updatedAt: string; readonly id: string } | null, until: string, limit: number): Promise<ImageRecord[]>;
  /** Counts of images per value of `layer`, `status`, `split` or `source` (`null` for none). */
  countBy(field: 'layer' | 'status' | 'split' | 'source'): Promise<Record<string, number>>;
  /** Mark (or clear, with null) missing objects. Does not touch `updatedAt`. */
  setIntegrity(id: string, integrity: Integrity | null): Promise<void>;
}

/** Captions. */
export interface CaptionRepository {
  upsert(caption: CaptionUpsert): Promise<UpsertResult<CaptionRecord>>;
  get(id: string): Promise<CaptionRecord | null>;
  /** Captions of an image, by id. */
  byImage(imageId: string): Promise<CaptionRecord[]>;
  /** Counts of captions per origin. */
  countByOrigin(): Promise<Record<string, number>>;
  /** Captions of several images (one round trip per 500 ids). */
  byImages(imageIds: readonly string[]): Promise<Map<string, CaptionRecord[]>>;
}

/** Dataset versions. */
export interface DatasetRepository {
  /** Insert a version; if the id exists, the stored (immutable) record is returned unchanged. */
  put(record: Omit<DatasetRecord, 'integrity'>): Promise<UpsertResult<DatasetRecord>>;
  get(id: string): Promise<DatasetRecord | null>;
  /** Versions of a dataset, newest first. */
  listByName(name: string, limit?: number): Promise<DatasetRecord[]>;
  latest(name: string): Promise<DatasetRecord | null>;
  /** All versions, by id (for the consistency check). */
  list(page?: PageRequest): Promise<Page<DatasetRecord>>;
  setIntegrity(id: string, integrity: Integrity | null): Promise<void>;
}

/** Options of {@link ModelRepository.setAlias}. */
export interface SetAliasOptions {
  /**
   * Compare-and-set: the version the alias must point to now (null: must not exist yet), or
   * CATALOG_CONFLICT is thrown. Lets two promoters race safely without transactions.
   */
  readonly expected?: string | null;
}

/** Models and their aliases. */
export interface ModelRepository {
  upsert(model: ModelUpsert): Promise<UpsertResult<ModelRecord>>;
  get(id: string): Promise<ModelRecord | null>;
  /** Versions of a model, newest first. */
  listByName(name: string, limit?: number): Promise<ModelRecord[]>;
  /** All versions, by id (for the consistency check). */
  list(page?: PageRequest): Promise<Page<ModelRecord>>;
  /** Point `alias` of model `name` at `version` (which must exist and belong to `name`), atomically. */
  setAlias(name: string, alias: string, version: string, options?: SetAliasOptions): Promise<ModelAlias>;
  getAlias(name: string, alias: string): Promise<ModelAlias | null>;
  /** The model version an alias points to. */
  byAlias(name: string, alias: string): Promise<ModelRecord | null>;
  listAliases(name: string): Promise<ModelAlias[]>;
  setIntegrity(id: string, integrity: Integrity | null): Promise<void>;
}

/** Job runs. */
export interface JobRunRepository {
  upsert(run: JobRunUpsert): Promise<UpsertResult<JobRunRecord>>;
  get(id: string): Promise<JobRunRecord | null>;
  /** Runs of a job, newest first. */
  listByName(name: string, limit?: number): Promise<JobRunRecord[]>;
}

/**
 * An image entered in the near-duplicate state store: one that passed the quality gate and may
 * therefore survive as the original of its near-duplicates. Written once; a replay keeps the
 * first write (so the first ingest time recorded for an image is the one every judge sees).
 */
export interface NearDuplicateMember {
  /** The image id (sha256 of the original bytes). */
  readonly imageId: string;
  /** 64-bit DCT perceptual hash, 16 lowercase hex digits. */
  readonly pHash: string;
  /** ISO time the image was ingested: the survivor rule's first key. */
  readonly ingestedAt: string;
  /** The silver object the colour confirmation reads. */
  readonly silverKey: string;
  /** What the judge keeps to announce a later demotion of this image (opaque to the catalog). */
  readonly facts: JsonValue;
  readonly createdAt: string;
}

/** What {@link NearDuplicateRepository.register} writes. */
export type NearDuplicateRegistration = Omit<NearDuplicateMember, 'createdAt'>;

/** A member found within the radius of a hash. */
export interface NearDuplicateCandidate {
  readonly imageId: string;
  readonly pHash: string;
  readonly ingestedAt: string;
  readonly silverKey: string;
  /** Hamming distance to the queried hash. */
  readonly distance: number;
}

/** A recorded verdict "`imageId` is a near-duplicate of the earlier `by`". Insert-only, never cleared. */
export interface Supersession {
  /** The image that is a duplicate. */
  readonly imageId: string;
  /** The earlier image it duplicates. */
  readonly by: string;
  /** `by`'s ingest time (ISO), so readers can rank supersessions without another read. */
  readonly byIngestedAt: string;
  /** pHash Hamming distance between the two. */
  readonly distance: number;
  readonly createdAt: string;
}

/**
 * The near-duplicate state store, shared by every replica of curate: a band index over the
 * 64-bit pHash of gate-passed images (radius r: r + 1 disjoint bands, see
 * processors/curate/phash-bands.ts) and the supersessions judges have recorded. Every write is an
 * insert with an id derived from its content, so replays write nothing and no transaction or
 * compare-and-set is needed (FerretDB's inserts are reliable where its CAS is not).
 */
export interface NearDuplicateRepository {
  /**
   * Enter an image for radius `radius`: its member record, then its r + 1 band entries. Returns
   * the stored member — the first write's, when the image was entered before.
   */
  register(member: NearDuplicateRegistration, radius: number): Promise<NearDuplicateMember>;
  /** Members within `radius` of `pHash` (one look-up on the r + 1 bands, then the exact distance), nearest first. */
  within(pHash: string, radius: number): Promise<NearDuplicateCandidate[]>;
  member(imageId: string): Promise<NearDuplicateMember | null>;
  /** Members of `imageIds` that exist, in the order of `imageIds`. */
  members(imageIds: readonly string[]): Promise<NearDuplicateMember[]>;
  /** Record a supersession; false when it was recorded before. */
  supersede(supersession: Omit<Supersession, 'createdAt'>): Promise<boolean>;
  /** Supersessions of an image, earliest `by` first (by ingest time, then id). */
  supersessionsOf(imageId: string): Promise<Supersession[]>;
}

/** The catalog. */
export interface Catalog {
  readonly kind: 'sqlite' | 'mongo';
  readonly images: ImageRepository;
  readonly captions: CaptionRepository;
  readonly datasets: DatasetRepository;
  readonly models: ModelRepository;
  readonly jobRuns: JobRunRepository;
  /** Job leases and trigger claims: one run of a job at a time across replicas. */
  readonly jobLeases: JobLeaseRepository;
  /** The near-duplicate state store of curate. */
  readonly nearDuplicates: NearDuplicateRepository;
  /** The dead-letter index (listing and replay bookkeeping). */
  readonly deadLetters: DeadLetterRepository;
  /** Labeling's parked records: caption-less images waiting for a first model (status awaiting_model). */
  readonly awaitingModel: AwaitingModelRepository;
  close(): Promise<void>;
}
