/**
 * The typed topology builder, in the spirit of Kafka Streams' `StreamsBuilder` and RxJS's
 * `pipe`: a `Stream<T>` read from a topic, operators whose input type is the previous
 * operator's output type (a mismatch is a compile error), effects declared as effects, explicit
 * branches and declared state stores. It produces a {@link Topology} — plain data that
 * `describe()` prints and the runner runs.
 *
 * ```ts
 * export const normalize = topology<LakeDeps>('normalize', { description: '…' }, (b) =>
 *   b.stream(Topics.imageIngested, { group: 'captionflow-normalize' })   // Stream<ImageIngested>
 *     .worker('normalize-image', normalizeWorker, { toTask, fromResult })  // Stream<Normalizing>
 *     .effect('write-silver', { target: 'objects: silver', key, write })   // Stream<ImageNormalized>
 *     .to(Topics.imageNormalized, { key: (n) => n.imageId }));
 * ```
 */
import type { Headers } from '../ports.ts';
import {
  DEAD_LETTER_TOPIC,
  defaultRetry,
  walkNodes,
  type BatchContext,
  type ErrorPolicy,
  type Node,
  type RunSpec,
  type StepContext,
  type StoreRef,
  type Topology,
  type TopicRef,
} from './topology.ts';

type Awaitable<T> = T | Promise<T>;

declare const processorType: unique symbol;

/** The value type a topic carries (a {@link TopicRef} or a schemas/ `TopicSpec`). */
export type ValueOf<X> = X extends TopicRef<infer V> ? V : unknown;

/**
 * A processor module for the worker pool, typed by its default export: `processor<typeof
 * normalizeTask>(new URL('../processors/image/normalize-worker.ts', import.meta.url))`.
 */
export interface ProcessorModule<Task, Result> {
  readonly url: URL;
  /** Type-level only. */
  readonly [processorType]?: (task: Task) => Result;
}

/** Refer to a processor module whose default export is `fn`'s type. */
export function processor<F extends (task: never) => unknown>(url: URL): ProcessorModule<Parameters<F>[0], Awaited<ReturnType<F>>> {
  return { url };
}

/** Options every operator takes. */
export interface StepOptions<D> {
  readonly errors?: ErrorPolicy;
  /** State stores the step uses through `ctx.store(ref)`. */
  readonly stores?: readonly StoreRef<unknown, D>[];
}

/** How a worker step makes its task: typed by the processor module, never inferred from here. */
export interface WorkerTask<T, Task, D> {
  readonly toTask: (value: T, ctx: StepContext<D>) => Awaitable<{ task: NoInfer<Task>; transfer?: ArrayBuffer[] }>;
}

/** How a value is written to a topic. */
export interface ToOptions<T, D> {
  readonly key: (value: T, ctx: StepContext<D>) => string | null;
  readonly headers?: (value: T, ctx: StepContext<D>) => Headers;
  /** A name for the sink (default `to-<topic>`). */
  readonly name?: string;
}

/** An effect: what it writes, its idempotency key and the write itself. */
export interface EffectSpec<T, R, D> {
  /** What is written where, for `describe()` (e.g. `catalog: images (status normalized)`). */
  readonly target: string;
  /** The idempotency key: a replay of the same value writes under the same key, changing nothing. */
  readonly key: (value: T) => string;
  /** The write; its result flows on, or the input when it returns nothing. */
  readonly write: (value: T, ctx: StepContext<D>, key: string) => Promise<R>;
}

/** A stream of `T` inside a topology under construction. */
export class Stream<T, D> {
  /** @internal */
  constructor(
    private readonly b: TopologyBuilder<D>,
    private readonly children: Node[],
  ) {}

  private add<N extends Node>(node: N): N {
    this.children.push(node);
    return node;
  }

  private common(name: string, options: StepOptions<D> | undefined): { name: string; stores: StoreRef<unknown, never>[]; children: Node[]; errors?: ErrorPolicy } {
    const stores = [...(options?.stores ?? [])] as StoreRef<unknown, never>[];
    for (const s of stores) this.b.requireStore(s, name);
    return { name, stores, children: [], ...(options?.errors === undefined ? {} : { errors: options.errors }) };
  }

  /** One value in, one out, in-process. */
  map<O>(name: string, fn: (value: T, ctx: StepContext<D>) => Awaitable<O>, options?: StepOptions<D>): Stream<O, D> {
    return new Stream<O, D>(this.b, this.add({ kind: 'map', fn, ...this.common(name, options) }).children);
  }

  /** One value in, zero or more out (zero drops the record, several fan it out). */
  flatMap<O>(name: string, fn: (value: T, ctx: StepContext<D>) => Awaitable<readonly O[]>, options?: StepOptions<D>): Stream<O, D> {
    return new Stream<O, D>(this.b, this.add({ kind: 'flatMap', label: 'flatMap', fn, ...this.common(name, options) }).children);
  }

  /** Keep the values for which `predicate` holds (a type guard narrows the stream). */
  filter<U extends T>(name: string, predicate: (value: T, ctx: StepContext<D>) => value is U, options?: StepOptions<D>): Stream<U, D>;
  filter(name: string, predicate: (value: T, ctx: StepContext<D>) => Awaitable<boolean>, options?: StepOptions<D>): Stream<T, D>;
  filter(name: string, predicate: (value: T, ctx: StepContext<D>) => Awaitable<boolean>, options?: StepOptions<D>): Stream<T, D> {
    const fn = async (value: T, ctx: StepContext<D>): Promise<readonly T[]> => ((await predicate(value, ctx)) ? [value] : []);
    return new Stream<T, D>(this.b, this.add({ kind: 'flatMap', label: 'filter', fn, ...this.common(name, options) }).children);
  }

  /**
   * Run a processor module on the worker pool: `toTask` builds its plain-data task (and the
   * ArrayBuffers to transfer), `fromResult` combines its result with the input.
   */
  worker<Task, Result, O>(
    name: string,
    module: ProcessorModule<Task, Result>,
    options: StepOptions<D> & WorkerTask<T, Task, D> & { readonly fromResult: (result: NoInfer<Result>, value: T, ctx: StepContext<D>) => Awaitable<O> },
  ): Stream<O, D>;
  worker<Task, Result>(name: string, module: ProcessorModule<Task, Result>, options: StepOptions<D> & WorkerTask<T, Task, D>): Stream<Result, D>;
  worker<Task, Result, O>(
    name: string,
    module: ProcessorModule<Task, Result>,
    options: StepOptions<D> & WorkerTask<T, Task, D> & { readonly fromResult?: (result: Result, value: T, ctx: StepContext<D>) => Awaitable<O> },
  ): Stream<O | Result, D> {
    const fromResult = options.fromResult ?? ((result: Result) => result);
    return new Stream<O | Result, D>(this.b, this.add({ kind: 'worker', module: module.url, toTask: options.toTask, fromResult, ...this.common(name, options) }).children);
  }

  /**
   * Micro-batch: the values of records in flight reaching this step are gathered — up to
   * `maxSize`, waiting at most `maxDelayMs` — and `fn` handles them together, answering one
   * output per input in the same order. Per-key order holds (a key's next record waits for its
   * previous one); the batch's size is bounded by the records in flight (`run.maxInFlight`).
   */
  batch<O>(
    name: string,
    options: StepOptions<D> & { readonly maxSize: number; readonly maxDelayMs: number },
    fn: (values: readonly T[], ctx: BatchContext<D>) => Promise<readonly O[]>,
  ): Stream<O, D> {
    if (!Number.isInteger(options.maxSize) || options.maxSize < 1) throw new TypeError(`batch "${name}": maxSize must be an integer >= 1, got ${options.maxSize}`);
    if (!(options.maxDelayMs >= 0)) throw new TypeError(`batch "${name}": maxDelayMs must be >= 0, got ${options.maxDelayMs}`);
    return new Stream<O, D>(this.b, this.add({ kind: 'batch', maxSize: options.maxSize, maxDelayMs: options.maxDelayMs, fn, ...this.common(name, options) }).children);
  }

  /** An idempotent side effect; the stream continues with its result (or the input when it returns nothing). */
  effect<R = void>(name: string, spec: EffectSpec<T, R, D>, options?: StepOptions<D>): Stream<[R] extends [void] ? T : R, D> {
    return new Stream(this.b, this.add({ kind: 'effect', target: spec.target, key: spec.key, write: spec.write, ...this.common(name, options) }).children);
  }

  /**
   * Route each value to one branch by name. Every branch is built by its own function on a
   * stream of the same type; a value routed to a branch not listed is a bug and fails.
   */
  branch<K extends string>(name: string, route: (value: T, ctx: StepContext<D>) => K, branches: { readonly [k in K]: (stream: Stream<T, D>) => void }, options?: StepOptions<D>): void {
    const built = new Map<string, Node[]>();
    for (const [k, build] of Object.entries(branches) as [K, (s: Stream<T, D>) => void][]) {
      const nodes: Node[] = [];
      build(new Stream<T, D>(this.b, nodes));
      built.set(k, nodes);
    }
    this.add({ kind: 'branch', route, branches: built, ...this.common(name, options) });
  }

  /**
   * Write each value to a topic. The stream's values must fit the topic's value type, or a
   * `select` must make a value that does (a compile error otherwise); `select` returning
   * `undefined` skips the value.
   */
  to<V>(
    target: TopicRef<V>,
    options: ToOptions<T, D> & ([T] extends [V] ? { readonly select?: (value: T, ctx: StepContext<D>) => NoInfer<V> | undefined } : { readonly select: (value: T, ctx: StepContext<D>) => NoInfer<V> | undefined }),
  ): void {
    const ref: TopicRef = { name: target.name, ...(target.partitions === undefined ? {} : { partitions: target.partitions }) };
    this.add({
      kind: 'sink',
      name: options.name ?? `to-${target.name.replace(/[^a-z0-9]+/g, '-')}`,
      topic: ref,
      key: options.key,
      stores: [],
      children: [],
      ...(options.headers === undefined ? {} : { headers: options.headers }),
      ...(options.select === undefined ? {} : { select: options.select }),
    });
  }

  /** Apply a reusable part of a pipeline (a function extending this stream). */
  through<R>(part: (stream: Stream<T, D>) => R): R {
    return part(this);
  }
}

/** Options of a topology as a whole. */
export interface TopologyOptions {
  readonly description?: string;
  readonly errors?: ErrorPolicy;
  readonly deadLetterTopic?: string;
  readonly run?: RunSpec;
}

/** Builds one topology: a source stream and the state stores it uses. */
export class TopologyBuilder<D> {
  /** @internal */ source: Topology<D>['source'] | undefined;
  /** @internal */ readonly nodes: Node[] = [];
  /** @internal */ readonly stores: StoreRef<unknown, D>[] = [];

  /** @internal */
  requireStore(store: StoreRef<unknown, never>, step: string): void {
    if (!this.stores.includes(store as StoreRef<unknown, D>)) throw new TypeError(`step "${step}" uses state store "${store.name}", which the topology does not declare (b.store(...))`);
  }

  /** The topology's source: `topic` read by consumer group `group`. One per topology. */
  stream<X extends { readonly name: string }>(source: X, options: { readonly group: string; readonly fromBeginning?: boolean }): Stream<ValueOf<X>, D> {
    if (this.source !== undefined) throw new TypeError(`a topology has one source; it already reads ${this.source.topic.name}`);
    this.source = { topic: { name: source.name }, group: options.group, ...(options.fromBeginning === undefined ? {} : { fromBeginning: options.fromBeginning }) };
    return new Stream<ValueOf<X>, D>(this, this.nodes);
  }

  /** Declare a state store the topology's steps use (it is opened when the topology starts). */
  store<T>(store: StoreRef<T, D>): StoreRef<T, D> {
    if (this.stores.some((s) => s.name === store.name)) throw new TypeError(`state store "${store.name}" is declared twice`);
    this.stores.push(store);
    return store;
  }
}

const NAME = /^[a-z][a-z0-9-]*$/;

/** Build a topology; names and policies are validated up front so a typo fails at start, not mid-stream. */
export function topology<D = unknown>(name: string, options: TopologyOptions, build: (b: TopologyBuilder<D>) => void): Topology<D> {
  const b = new TopologyBuilder<D>();
  build(b);
  const problems: string[] = [];
  if (!NAME.test(name)) problems.push(`name "${name}" must match ${NAME}`);
  if (b.source === undefined) problems.push('a topology needs a source (b.stream(topic, { group }))');
  // A name means one step: unique across the topology, except that the branches of one branch
  // node may each use the same reusable part (the same step on different routes).
  const seen = new Map<string, string>();
  let sinks = 0;
  for (const { node, path } of walkNodes(b.nodes)) {
    if (!NAME.test(node.name)) problems.push(`step "${node.name}" must match ${NAME}`);
    const where = path.join('/');
    const before = seen.get(node.name);
    if (before !== undefined && (before === where || !sameBranchNode(before, where))) problems.push(`step name "${node.name}" is used twice`);
    seen.set(node.name, where);
    if (node.kind === 'sink' || node.kind === 'effect') sinks++;
  }
  if (sinks === 0) problems.push('a topology needs at least one sink (.to(topic)) or effect');
  const attempts = options.errors?.retry?.attempts;
  if (attempts !== undefined && (!Number.isInteger(attempts) || attempts < 1)) problems.push(`errors.retry.attempts must be an integer >= 1, got ${attempts}`);
  if (problems.length > 0 || b.source === undefined) throw new TypeError(`invalid topology "${name}": ${problems.join('; ')}`);
  return {
    name,
    ...(options.description === undefined ? {} : { description: options.description }),
    source: b.source,
    nodes: b.nodes,
    stores: b.stores,
    errors: {
      retry: { ...defaultRetry, ...options.errors?.retry },
      otherwise: options.errors?.otherwise ?? 'dead-letter',
      outages: options.errors?.outages ?? 'wait',
    },
    deadLetterTopic: options.deadLetterTopic ?? DEAD_LETTER_TOPIC,
    run: { maxInFlight: options.run?.maxInFlight ?? 16, maxBatchRecords: options.run?.maxBatchRecords ?? 100 },
  };
}

/** True when two branch paths part at the same branch node (sibling branches). */
function sameBranchNode(a: string, b: string): boolean {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    return pa[i]!.split('=')[0] === pb[i]!.split('=')[0];
  }
  return false;
}
