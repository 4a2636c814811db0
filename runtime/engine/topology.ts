import type { Clock, Headers, WorkerPool } from '../ports.ts';
import type { Logger } from '../logger.ts';

/** A topic a topology reads or writes. `T` is the decoded value type (documentation for the compiler). */
export interface TopicRef<T = unknown> {
  readonly name: string;
  readonly partitions?: number;
  /** Phantom field carrying the value type; never set. */
  readonly __value?: T;
}

/** Refer to a topic by name. */
export function topic<T = unknown>(name: string, options: { partitions?: number } = {}): TopicRef<T> {
  return { name, ...(options.partitions === undefined ? {} : { partitions: options.partitions }) };
}

/** Retry policy for retriable errors: exponential backoff with full jitter disabled for reproducibility. */
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
 * Named dependencies a topology's steps may use (object store, catalog, models…). Registered by
 * the application through declaration merging or passed as a plain record; steps check presence.
 */
export type Services = Record<string, unknown>;

/** What a step receives besides the value: like Kafka Streams' ProcessorContext. */
export interface StepContext<S extends Services = Services> {
  readonly topology: string;
  readonly step: string;
  /** 1 on the first attempt. */
  readonly attempt: number;
  readonly record: RecordMeta;
  readonly services: S;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly pool: WorkerPool | undefined;
  /** Aborted when the topology is shutting down past its deadline. */
  readonly signal: AbortSignal;
  /** Metric labels a step may set for the rest of this record (e.g. the model version used). */
  readonly labels: { model_version?: string };
}

type Awaitable<T> = T | Promise<T>;

interface StepCommon {
  readonly name: string;
  readonly errors?: ErrorPolicy;
}

/** An in-process transformation: one value in, one value out. */
export interface MapStep<I, O, S extends Services> extends StepCommon {
  readonly kind: 'map';
  readonly fn: (value: I, ctx: StepContext<S>) => Awaitable<O>;
}

/** One value in, zero or more out (zero drops the record, several fan it out). */
export interface FlatMapStep<I, O, S extends Services> extends StepCommon {
  readonly kind: 'flatMap';
  readonly fn: (value: I, ctx: StepContext<S>) => Awaitable<readonly O[]>;
}

/** A processor given as a module: its default export runs on the worker pool (Piscina). */
export interface WorkerStep<I, O, S extends Services> extends StepCommon {
  readonly kind: 'worker';
  readonly module: URL;
  /** Builds the plain-data task and the ArrayBuffers to transfer. Defaults to the value itself. */
  readonly toTask?: (value: I, ctx: StepContext<S>) => Awaitable<{ task: unknown; transfer?: ArrayBuffer[] }>;
  /** Combines the worker result with the input. Defaults to the result itself. */
  readonly fromResult?: (result: unknown, value: I, ctx: StepContext<S>) => Awaitable<O>;
}

/** Any step. */
export type Step<S extends Services = Services> =
  | MapStep<never, unknown, S>
  | FlatMapStep<never, unknown, S>
  | WorkerStep<never, unknown, S>;

/** Writes each output to a topic (through the serde), keyed for per-key order. */
export interface TopicSink<T, S extends Services> {
  readonly kind: 'topic';
  readonly name: string;
  readonly topic: TopicRef;
  readonly key: (value: T, ctx: StepContext<S>) => string | null;
  readonly headers?: (value: T, ctx: StepContext<S>) => Headers;
  /** What to encode; `undefined` skips this output for this sink. Defaults to the value. */
  readonly select?: (value: T, ctx: StepContext<S>) => unknown;
}

/** An idempotent side effect (object store put, catalog upsert…) acknowledged before offsets move. */
export interface EffectSink<T, S extends Services> {
  readonly kind: 'effect';
  readonly name: string;
  readonly write: (value: T, ctx: StepContext<S>) => Promise<void>;
  readonly errors?: ErrorPolicy;
}

/** Any sink. */
export type Sink<S extends Services = Services> = TopicSink<never, S> | EffectSink<never, S>;

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

/** A topology: a named graph of a source, steps and sinks, declared as data. */
export interface Topology<S extends Services = Services> {
  readonly name: string;
  readonly description?: string;
  readonly source: SourceSpec;
  readonly steps: readonly Step<S>[];
  readonly sinks: readonly Sink<S>[];
  readonly errors: Required<ErrorPolicy> & { retry: RetryPolicy };
  readonly deadLetterTopic: string;
  readonly run: Required<RunSpec>;
}

/** What `defineTopology` takes. */
export interface TopologySpec<S extends Services = Services> {
  readonly name: string;
  readonly description?: string;
  readonly source: SourceSpec;
  readonly steps?: readonly Step<S>[];
  readonly sinks: readonly Sink<S>[];
  readonly errors?: ErrorPolicy;
  readonly deadLetterTopic?: string;
  readonly run?: RunSpec;
}

/** The default supervision: five attempts with exponential backoff, then the dead-letter topic. */
export const defaultRetry: RetryPolicy = { attempts: 5, initialDelayMs: 100, maxDelayMs: 10_000, factor: 2 };

/** The topic dead letters go to unless a topology names another. */
export const DEAD_LETTER_TOPIC = 'dead-letter';

const NAME = /^[a-z][a-z0-9-]*$/;

/** Declare a topology; validates names up front so a typo fails at start, not mid-stream. */
export function defineTopology<S extends Services = Services>(spec: TopologySpec<S>): Topology<S> {
  const problems: string[] = [];
  if (!NAME.test(spec.name)) problems.push(`name "${spec.name}" must match ${NAME}`);
  const names = new Set<string>();
  for (const s of [...(spec.steps ?? []), ...spec.sinks]) {
    if (!NAME.test(s.name)) problems.push(`step "${s.name}" must match ${NAME}`);
    if (names.has(s.name)) problems.push(`step name "${s.name}" is used twice`);
    names.add(s.name);
  }
  if (spec.sinks.length === 0) problems.push('a topology needs at least one sink');
  const attempts = spec.errors?.retry?.attempts;
  if (attempts !== undefined && (!Number.isInteger(attempts) || attempts < 1)) {
    problems.push(`errors.retry.attempts must be an integer >= 1, got ${attempts}`);
  }
  if (problems.length > 0) throw new TypeError(`invalid topology "${spec.name}": ${problems.join('; ')}`);
  return {
    name: spec.name,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    source: spec.source,
    steps: spec.steps ?? [],
    sinks: spec.sinks,
    errors: {
      retry: { ...defaultRetry, ...spec.errors?.retry },
      otherwise: spec.errors?.otherwise ?? 'dead-letter',
      outages: spec.errors?.outages ?? 'wait',
    },
    deadLetterTopic: spec.deadLetterTopic ?? DEAD_LETTER_TOPIC,
    run: { maxInFlight: spec.run?.maxInFlight ?? 16, maxBatchRecords: spec.run?.maxBatchRecords ?? 100 },
  };
}

/** An in-process map step. */
export function map<I, O, S extends Services = Services>(
  name: string,
  fn: (value: I, ctx: StepContext<S>) => Awaitable<O>,
  options: { errors?: ErrorPolicy } = {},
): Step<S> {
  return { kind: 'map', name, fn, ...options } as unknown as Step<S>;
}

/** An in-process step emitting zero or more values. */
export function flatMap<I, O, S extends Services = Services>(
  name: string,
  fn: (value: I, ctx: StepContext<S>) => Awaitable<readonly O[]>,
  options: { errors?: ErrorPolicy } = {},
): Step<S> {
  return { kind: 'flatMap', name, fn, ...options } as unknown as Step<S>;
}

/** Keep only values for which `predicate` holds. */
export function filter<I, S extends Services = Services>(
  name: string,
  predicate: (value: I, ctx: StepContext<S>) => Awaitable<boolean>,
): Step<S> {
  return flatMap<I, I, S>(name, async (value, ctx) => ((await predicate(value, ctx)) ? [value] : []));
}

/** A processor module run on the worker pool; the same module can be called in-process by tests. */
export function worker<I, O, S extends Services = Services>(
  name: string,
  module: URL,
  options: Omit<WorkerStep<I, O, S>, 'kind' | 'name' | 'module'> = {},
): Step<S> {
  return { kind: 'worker', name, module, ...options } as unknown as Step<S>;
}

/** A sink writing outputs to a topic. */
export function toTopic<T, S extends Services = Services>(
  target: TopicRef<T> | TopicRef,
  options: Omit<TopicSink<T, S>, 'kind' | 'name' | 'topic'> & { name?: string },
): Sink<S> {
  const { name, ...rest } = options;
  return { kind: 'topic', name: name ?? `to-${target.name.replace(/[^a-z0-9]+/g, '-')}`, topic: target, ...rest } as unknown as Sink<S>;
}

/** A sink performing an idempotent side effect. */
export function effect<T, S extends Services = Services>(
  name: string,
  write: (value: T, ctx: StepContext<S>) => Promise<void>,
  options: { errors?: ErrorPolicy } = {},
): Sink<S> {
  return { kind: 'effect', name, write, ...options } as unknown as Sink<S>;
}

/** Topics a topology reads and writes (for creating them up front). */
export function topicsOf(t: Topology<Services>): string[] {
  const out = new Set<string>([t.source.topic.name, t.deadLetterTopic]);
  for (const s of t.sinks) if (s.kind === 'topic') out.add(s.topic.name);
  return [...out];
}

/**
 * Print the topology as a named graph, in the spirit of Kafka Streams' `Topology#describe()`:
 * stable text, so a snapshot test notices any change of shape.
 */
export function describe(t: Topology<Services>): string {
  const lines: string[] = [`Topology: ${t.name}${t.description === undefined ? '' : ` — ${t.description}`}`];
  lines.push(`  Source: ${t.source.topic.name} (group: ${t.source.group})`);
  lines.push(`    --> decode`);
  let prev = 'decode';
  const stepLines = t.steps.map((s) => {
    const where = s.kind === 'worker' ? `worker pool: ${shortModule(s.module)}` : 'in-process';
    const policy = s.errors?.otherwise ?? t.errors.otherwise;
    const line = `  Processor: ${s.name} (${s.kind}, ${where}, on error: ${policy})\n    <-- ${prev}`;
    prev = s.name;
    return line;
  });
  lines.push(...stepLines);
  for (const sink of t.sinks) {
    const what = sink.kind === 'topic' ? `topic: ${sink.topic.name}` : 'effect (idempotent)';
    lines.push(`  Sink: ${sink.name} (${what})\n    <-- ${prev}`);
  }
  lines.push(`  Dead letters: ${t.deadLetterTopic} (retry: ${t.errors.retry.attempts} attempts, ${t.errors.retry.initialDelayMs}ms x${t.errors.retry.factor} up to ${t.errors.retry.maxDelayMs}ms; then ${t.errors.otherwise}; dependency outages: ${t.errors.outages === 'wait' ? 'wait, fetching paused' : 'retried as above'})`);
  return lines.join('\n');
}

function shortModule(url: URL): string {
  const parts = url.pathname.split('/');
  return parts.slice(-2).join('/');
}
