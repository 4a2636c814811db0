/**
 * A topology as data: a named tree of nodes under one source topic, with its state stores and
 * its supervision policy. Built with the typed builder (`builder.ts`), printed by
 * `describe.ts`, run by `runner.ts`. This file holds only the shapes; nothing here runs.
 *
 * Inside the tree the value types are erased (`unknown`): the builder is where they are
 * checked, one operator's input against the previous operator's output, at compile time.
 */
import type { Clock, Headers, WorkerPool } from '../ports.ts';
import type { Logger } from '../logger.ts';
import type { topicValue } from '../../schemas/topics.ts';

declare const depsType: unique symbol;

/** A topic a topology reads or writes. `T` is its value type (type-level only). */
export interface TopicRef<T = unknown> {
  readonly name: string;
  readonly partitions?: number;
  /** Type-level only: carries `T` (the same marker as schemas/ topics, so `Topics.x` is a TopicRef). */
  readonly [topicValue]?: T;
}

/** Refer to a topic by name, stating its value type. */
export function topic<T = unknown>(name: string, options: { partitions?: number } = {}): TopicRef<T> {
  return { name, ...(options.partitions === undefined ? {} : { partitions: options.partitions }) };
}

/** Retry policy for retriable errors: exponential backoff (no jitter, for reproducibility). */
export interface RetryPolicy {
  /** Total attempts including the first one (1 = no retry). */
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
}

/** What happens to a record once retries are exhausted or the error is not retriable. */
export type ErrorOutcome = 'dead-letter' | 'fail' | 'skip';

/**
 * What a dependency outage (object store, catalog, broker or schema registry unavailable) does:
 * `wait` (default) retries the record with backoff for as long as the outage lasts, never
 * counting it against `retry.attempts`, while the topology stops fetching; `retry` treats it as
 * any retriable error (attempts, then `otherwise`).
 */
export type OutagePolicy = 'wait' | 'retry';

/** Supervision policy of a topology or step. */
export interface ErrorPolicy {
  readonly retry?: Partial<RetryPolicy>;
  readonly otherwise?: ErrorOutcome;
  readonly outages?: OutagePolicy;
}

/** Where the source record of the value being processed came from. */
export interface RecordMeta {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly headers: Headers;
  readonly timestamp: number;
  readonly schemaId: number;
}

/**
 * A state store declared in a topology: state a step keeps across records (the near-duplicate
 * index, dedup windows…). It is opened from the topology's dependencies when the topology
 * starts, so every replica opens the same shared backing (the catalog, a compacted topic);
 * per-process memory may cache it, never own it. `T` is what steps get from `ctx.store(ref)`.
 */
export interface StoreRef<T = unknown, D = never> {
  readonly name: string;
  readonly description: string;
  /** Where the state lives, for `describe()` (e.g. `catalog: near_duplicate_bands`). */
  readonly backing: string;
  /** Opens the store on the topology's dependencies; called once per running topology. */
  readonly open: (deps: D) => T | Promise<T>;
}

/** Declare a state store (see {@link StoreRef}). */
export function stateStore<T, D>(spec: StoreRef<T, D>): StoreRef<T, D> {
  return spec;
}

/** What a step receives besides the value: like Kafka Streams' ProcessorContext. */
export interface StepContext<D = unknown> {
  readonly topology: string;
  readonly step: string;
  /** 1 on the first attempt. */
  readonly attempt: number;
  readonly record: RecordMeta;
  /** The topology's dependencies (object store, catalog, settings…), as the application wired them. */
  readonly deps: D;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly pool: WorkerPool | undefined;
  /** Aborted when the topology is shutting down past its deadline. */
  readonly signal: AbortSignal;
  /** Metric labels a step may set for the rest of this record (e.g. the model version used). */
  readonly labels: { model_version?: string };
  /** A state store this step declared (`stores: [...]`); asking for an undeclared one throws. */
  store<T>(ref: StoreRef<T, D>): T;
}

type Awaitable<T> = T | Promise<T>;

/** Fields every node has. */
interface NodeCommon {
  readonly name: string;
  readonly errors?: ErrorPolicy;
  /** State stores the node reads or writes. */
  readonly stores: readonly StoreRef<unknown, never>[];
  /** Nodes the node's outputs flow to, in order (several = the same output to each). */
  readonly children: Node[];
}

/** Erased function shapes of the tree (the builder checked the real types). */
type Fn<R> = (value: never, ctx: StepContext<never>) => Awaitable<R>;

/** An in-process transformation: one value in, one out. */
export interface MapNode extends NodeCommon {
  readonly kind: 'map';
  readonly fn: Fn<unknown>;
}

/** One value in, zero or more out (`filter` is a flatMap that keeps or drops). */
export interface FlatMapNode extends NodeCommon {
  readonly kind: 'flatMap';
  readonly fn: Fn<readonly unknown[]>;
  /** How `describe()` names it. */
  readonly label: 'flatMap' | 'filter';
}

/** A processor module run on the worker pool (Piscina); the same module runs in-process in tests. */
export interface WorkerNode extends NodeCommon {
  readonly kind: 'worker';
  readonly module: URL;
  readonly toTask: Fn<{ task: unknown; transfer?: ArrayBuffer[] }>;
  readonly fromResult: (result: never, value: never, ctx: StepContext<never>) => Awaitable<unknown>;
}

/**
 * An idempotent side effect (object put, catalog upsert…), declared as one: what it writes and
 * the key that makes a replay write nothing new. Its result flows on (or its input, when the
 * write returns nothing). Offsets move only after every effect of a batch acknowledged.
 */
export interface EffectNode extends NodeCommon {
  readonly kind: 'effect';
  /** What is written where, for `describe()` (e.g. `objects: silver/<sha256>.webp`). */
  readonly target: string;
  /** The idempotency key of a value: the same key writes the same thing once. */
  readonly key: (value: never) => string;
  readonly write: (value: never, ctx: StepContext<never>, key: string) => Promise<unknown>;
}

/** Routes each value to one named branch (e.g. curated / duplicate / rejected). */
export interface BranchNode extends Omit<NodeCommon, 'children'> {
  readonly kind: 'branch';
  readonly route: Fn<string>;
  readonly branches: ReadonlyMap<string, Node[]>;
  readonly children: Node[];
}

/** Writes each value to a topic through the serde, keyed for per-key order. A leaf. */
export interface SinkNode extends NodeCommon {
  readonly kind: 'sink';
  readonly topic: TopicRef;
  readonly key: (value: never, ctx: StepContext<never>) => string | null;
  readonly headers?: (value: never, ctx: StepContext<never>) => Headers;
  /** What to encode; `undefined` skips this value. Defaults to the value. */
  readonly select?: (value: never, ctx: StepContext<never>) => unknown;
}

/**
 * Micro-batching: values of the records in flight are gathered (RxJS `bufferTime` with a size
 * cap) and handed to `fn` together — one inference call for many images, one bulk write for
 * many rows. `fn` answers one output per input, in order; a failed batch fails each of its
 * values, which the supervisor retries (in a later batch) like any step.
 */
export interface BatchNode extends NodeCommon {
  readonly kind: 'batch';
  readonly maxSize: number;
  readonly maxDelayMs: number;
  readonly fn: (values: readonly never[], ctx: BatchContext<never>) => Promise<readonly unknown[]>;
}

/** What a batch function gets: the topology's context without a single record. */
export type BatchContext<D = unknown> = Omit<StepContext<D>, 'attempt' | 'record' | 'labels'>;

/** Any node of a topology's tree. */
export type Node = MapNode | FlatMapNode | WorkerNode | EffectNode | BranchNode | SinkNode | BatchNode;

/** The source of a topology: a topic read as a consumer group. */
export interface SourceSpec {
  readonly topic: TopicRef;
  readonly group: string;
  readonly fromBeginning?: boolean;
}

/** Knobs of how a topology runs. */
export interface RunSpec {
  /** Records of one batch (per partition) worked on at once; distinct keys run concurrently. */
  readonly maxInFlight?: number;
  /** Records fetched per batch. */
  readonly maxBatchRecords?: number;
}

/** A topology: a named tree of nodes under a source, with its state stores, declared as data. */
export interface Topology<D = unknown> {
  readonly name: string;
  readonly description?: string;
  readonly source: SourceSpec;
  /** The nodes the decoded source values flow to. */
  readonly nodes: readonly Node[];
  readonly stores: readonly StoreRef<unknown, D>[];
  readonly errors: Required<ErrorPolicy> & { retry: RetryPolicy };
  readonly deadLetterTopic: string;
  readonly run: Required<RunSpec>;
  /** Type-level only: the dependencies the steps need. */
  readonly [depsType]?: (deps: D) => void;
}

/** The default supervision: five attempts with exponential backoff, then the dead-letter topic. */
export const defaultRetry: RetryPolicy = { attempts: 5, initialDelayMs: 100, maxDelayMs: 10_000, factor: 2 };

/** The topic dead letters go to unless a topology names another. */
export const DEAD_LETTER_TOPIC = 'dead-letter';

/** Every node of a tree, depth first, with the branch path that leads to it. */
export function* walkNodes(nodes: readonly Node[], path: readonly string[] = []): Generator<{ node: Node; path: readonly string[] }> {
  for (const node of nodes) {
    yield { node, path };
    if (node.kind === 'branch') for (const [name, branch] of node.branches) yield* walkNodes(branch, [...path, `${node.name}=${name}`]);
    yield* walkNodes(node.children, path);
  }
}

/** Topics a topology reads and writes (for creating them up front). */
export function topicsOf(t: Topology<never>): string[] {
  const out = new Set<string>([t.source.topic.name, t.deadLetterTopic]);
  for (const { node } of walkNodes(t.nodes)) if (node.kind === 'sink') out.add(node.topic.name);
  return [...out];
}
