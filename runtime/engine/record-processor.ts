import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { Clock, LogRecord, ProduceRecord, Serde, WorkerPool } from '../ports.ts';
import type { Logger } from '../logger.ts';
import type { StepMeters } from './step-meters.ts';
import type { Supervised, Supervisor } from './supervisor.ts';
import { MicroBatcher } from './micro-batcher.ts';
import type { BatchContext, Node, RecordMeta, StepContext, StoreRef, Topology } from './topology.ts';

type Awaitable<T> = T | Promise<T>;

/** One record on its way through the tree. */
interface RecordRun {
  readonly record: LogRecord;
  readonly meta: RecordMeta;
  readonly schema: string;
  readonly labels: StepContext['labels'];
  readonly out: ProduceRecord[];
  /** Set once the record failed a step for good: the rest of its tree is skipped (one dead letter per record). */
  failed: boolean;
}

/** A compiled node: takes a value of the record and passes its outputs on to its children. */
type Compiled = (value: unknown, run: RecordRun) => Promise<void>;

/** Erased step signatures, as the runner calls them (the builder checked the real types). */
type StepFn<R> = (value: unknown, ctx: StepContext<unknown>) => Awaitable<R>;

/** What the record processor runs on. */
export interface RecordProcessorDeps {
  readonly topology: Topology<never>;
  readonly serde: Serde;
  readonly supervisor: Supervisor;
  readonly meters: StepMeters;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly pool: WorkerPool | undefined;
  readonly signal: AbortSignal;
  readonly deps: unknown;
  /** The topology's state stores, opened. */
  readonly stores: ReadonlyMap<string, unknown>;
}

/**
 * Runs one record through a topology's tree: decode, then each node under its supervision
 * policy, collecting the topic outputs and dead letters in `out` for the batch to produce. The
 * tree is compiled once into functions, so the hot path makes no closures per record.
 */
export class RecordProcessor {
  private readonly root: Compiled;
  private readonly batchers: MicroBatcher<unknown, unknown>[] = [];

  constructor(private readonly d: RecordProcessorDeps) {
    const t = d.topology;
    // Decoding: bad bytes will not get better (dead-lettered at once); a registry outage is waited for.
    d.supervisor.define('decode', undefined, { retry: { ...t.errors.retry, attempts: 1 }, otherwise: 'dead-letter' });
    this.root = this.compileAll(t.nodes);
  }

  /** Stop the micro-batchers (after the consumer stopped). */
  close(): void {
    for (const b of this.batchers) b.close();
  }

  /** Names of every step, for metric handles. */
  static stepNames(t: Topology<never>): string[] {
    const names = new Set<string>(['decode']);
    const visit = (nodes: readonly Node[]): void => {
      for (const n of nodes) {
        names.add(n.name);
        if (n.kind === 'branch') for (const b of n.branches.values()) visit(b);
        visit(n.children);
      }
    };
    visit(t.nodes);
    return [...names];
  }

  /** Process one record; pushes its outputs and dead letters to `out`. */
  async process(record: LogRecord, key: string | null, out: ProduceRecord[]): Promise<void> {
    const { topology: t, serde, supervisor, meters } = this.d;
    if (record.value === null) {
      meters.count('decode', 'tombstone');
      return;
    }
    let decoded: { schemaId: number; value: unknown };
    try {
      decoded = await serde.decode(t.source.topic.name, record.value);
    } catch (err) {
      // Off the hot path: only failures go through supervision (which waits out a registry outage).
      const error = PipelineError.from(err);
      if (!(error.isOutage && supervisor.policy('decode').outages === 'wait')) {
        const now = this.d.clock.now();
        meters.count('decode', String(error.code));
        return supervisor.fail(record, out, 'decode', { error, attempts: 1, firstAt: now, lastAt: now }, 'dead-letter');
      }
      const bytes = record.value;
      const res = await supervisor.run('decode', metaOf(record, key, -1), '', () => undefined, () => serde.decode(t.source.topic.name, bytes));
      if (!res.ok) return supervisor.fail(record, out, 'decode', res.failure, 'dead-letter');
      decoded = res.value;
    }
    const schema = String(decoded.schemaId);
    meters.ok('decode', schema, undefined);
    const run: RecordRun = { record, meta: metaOf(record, key, decoded.schemaId), schema, labels: {}, out, failed: false };
    await this.root(decoded.value, run);
  }

  private compileAll(nodes: readonly Node[]): Compiled {
    const compiled = nodes.map((n) => this.compile(n));
    if (compiled.length === 1) return compiled[0]!;
    return async (value, run) => {
      for (const c of compiled) {
        if (run.failed) return;
        await c(value, run);
      }
    };
  }

  private compile(node: Node): Compiled {
    const { supervisor, meters } = this.d;
    const children = this.compileAll(node.children);
    const hasChildren = node.children.length > 0;
    const name = node.name;
    switch (node.kind) {
      case 'map':
      case 'worker':
      case 'effect': {
        supervisor.define(name, node.errors);
        const invoke = this.invoker(node);
        return async (value, run) => {
          const res = await this.supervised(name, node, run, value, invoke);
          if (!res.ok) return;
          meters.ok(name, run.schema, run.labels.model_version);
          if (hasChildren) await children(res.value, run);
        };
      }
      case 'flatMap': {
        supervisor.define(name, node.errors);
        const fn = node.fn as StepFn<readonly unknown[]>;
        const invoke = async (value: unknown, ctx: StepContext<unknown>): Promise<readonly unknown[]> => fn(value, ctx);
        return async (value, run) => {
          const res = await this.supervised(name, node, run, value, invoke);
          if (!res.ok) return;
          if (res.value.length === 0) meters.count(name, 'dropped', undefined, run.labels.model_version);
          else meters.ok(name, run.schema, run.labels.model_version, res.value.length);
          if (hasChildren) for (const v of res.value) if (!run.failed) await children(v, run);
        };
      }
      case 'branch': {
        supervisor.define(name, node.errors);
        const route = node.route as StepFn<string>;
        const branches = new Map([...node.branches].map(([k, nodes]) => [k, this.compileAll(nodes)]));
        const invoke = async (value: unknown, ctx: StepContext<unknown>): Promise<Compiled> => {
          const k = await route(value, ctx);
          const branch = branches.get(k);
          if (branch === undefined) throw new PipelineError(ErrorCodes.INTERNAL, `branch ${name} routed a value to "${k}", which it does not have (${[...branches.keys()].join(', ')})`);
          return branch;
        };
        return async (value, run) => {
          const res = await this.supervised(name, node, run, value, invoke);
          if (!res.ok) return;
          meters.ok(name, run.schema, run.labels.model_version);
          await res.value(value, run);
        };
      }
      case 'batch': {
        supervisor.define(name, node.errors);
        const fn = node.fn as (values: readonly unknown[], ctx: BatchContext<unknown>) => Promise<readonly unknown[]>;
        const ctx = this.batchContext(name, node);
        const batcher = new MicroBatcher<unknown, unknown>(node, (values) => fn(values, ctx), (size) => meters.count(name, `batch_${size <= 1 ? '1' : size <= 4 ? '2-4' : size <= 16 ? '5-16' : '17+'}`));
        this.batchers.push(batcher);
        const invoke = (value: unknown): Promise<unknown> => batcher.submit(value);
        return async (value, run) => {
          const res = await this.supervised(name, node, run, value, invoke);
          if (!res.ok) return;
          meters.ok(name, run.schema, run.labels.model_version);
          if (hasChildren) await children(res.value, run);
        };
      }
      case 'sink': {
        // Topic sinks only select and encode: a failure there is the value's fault, never retried
        // (a registry outage is still waited out).
        supervisor.define(name, node.errors, { retry: { ...this.d.topology.errors.retry, attempts: 1 }, otherwise: 'dead-letter' });
        const invoke = this.sinkInvoker(node);
        return async (value, run) => {
          const res = await this.supervised(name, node, run, value, invoke);
          if (!res.ok || res.value === undefined) return;
          run.out.push(res.value);
          meters.ok(name, run.schema, run.labels.model_version);
        };
      }
    }
  }

  /** Run `invoke` under the step's policy; a failure for good fails the record. */
  private async supervised<T>(
    step: string,
    node: Node,
    run: RecordRun,
    value: unknown,
    invoke: (value: unknown, ctx: StepContext<unknown>) => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false }> {
    // The first attempt is made here, without the supervisor's closures and frame: most values
    // pass a step at once, and the supervisor takes over only when the first attempt threw.
    const { supervisor, meters } = this.d;
    const started = performance.now();
    let res: Supervised<T>;
    try {
      const result = await invoke(value, this.context(step, node, run, 1));
      meters.duration(step, run.schema, run.labels.model_version, (performance.now() - started) / 1000);
      return { ok: true, value: result };
    } catch (err) {
      res = await supervisor.afterFailure(step, run.meta, run.schema, () => run.labels.model_version, (attempt) => invoke(value, this.context(step, node, run, attempt)), err, started);
    }
    if (res.ok) return res;
    run.failed = true;
    await this.d.supervisor.fail(run.record, run.out, step, res.failure);
    return { ok: false };
  }

  private context(step: string, node: Node, run: RecordRun, attempt: number): StepContext<unknown> {
    return new RecordContext(this.d, step, node.stores, run, attempt);
  }

  private batchContext(step: string, node: Node): BatchContext<unknown> {
    const { topology, clock, logger, pool, signal, deps } = this.d;
    return {
      topology: topology.name,
      step,
      deps,
      clock,
      logger,
      pool,
      signal,
      store: <T>(ref: StoreRef<T, unknown>): T => declaredStore<T>(this.d, step, node.stores, ref),
    };
  }

  private invoker(node: Node & { kind: 'map' | 'worker' | 'effect' }): (value: unknown, ctx: StepContext<unknown>) => Promise<unknown> {
    switch (node.kind) {
      case 'map': {
        const fn = node.fn as StepFn<unknown>;
        return (v, ctx) => Promise.resolve(fn(v, ctx));
      }
      case 'effect': {
        const keyOf = node.key as (v: unknown) => string;
        const write = node.write as (v: unknown, ctx: StepContext<unknown>, key: string) => Promise<unknown>;
        return async (v, ctx) => {
          const result = await write(v, ctx, keyOf(v));
          return result === undefined ? v : result;
        };
      }
      case 'worker': {
        const toTask = node.toTask as StepFn<{ task: unknown; transfer?: ArrayBuffer[] }>;
        const fromResult = node.fromResult as (r: unknown, v: unknown, ctx: StepContext<unknown>) => Awaitable<unknown>;
        const { module, name } = node;
        return async (v, ctx) => {
          const pool = this.d.pool;
          if (pool === undefined) throw new PipelineError(ErrorCodes.INTERNAL, `step ${name} needs a worker pool`);
          const { task, transfer } = await toTask(v, ctx);
          return fromResult(await pool.run(module, task, transfer ?? []), v, ctx);
        };
      }
    }
  }

  private sinkInvoker(node: Node & { kind: 'sink' }): (value: unknown, ctx: StepContext<unknown>) => Promise<ProduceRecord | undefined> {
    const { serde, topology: t } = this.d;
    const select = node.select as ((v: unknown, c: StepContext<unknown>) => unknown) | undefined;
    const keyOf = node.key as (v: unknown, c: StepContext<unknown>) => string | null;
    const headersOf = node.headers as ((v: unknown, c: StepContext<unknown>) => Record<string, string>) | undefined;
    const topic = node.topic.name;
    return async (v, ctx) => {
      const selected = select ? select(v, ctx) : v;
      if (selected === undefined) return undefined;
      const r = ctx.record;
      // Provenance in one header (each header costs an encode per record): topology@topic/partition/offset.
      const source = `${t.name}@${r.topic}/${r.partition}/${r.offset}`;
      return {
        topic,
        key: keyOf(v, ctx),
        value: await serde.encode(topic, selected),
        headers: headersOf === undefined ? { 'cf-source': source } : { ...headersOf(v, ctx), 'cf-source': source },
      };
    };
  }
}

/**
 * The context of one attempt of a step on a record. A class, not an object literal: one is made
 * per step and attempt on the hot path, and a literal would also make a `store` closure each time.
 */
class RecordContext implements StepContext<unknown> {
  readonly topology: string;
  readonly record: RecordMeta;
  readonly deps: unknown;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly pool: WorkerPool | undefined;
  readonly signal: AbortSignal;
  readonly labels: StepContext['labels'];

  constructor(
    private readonly d: RecordProcessorDeps,
    readonly step: string,
    private readonly declared: Node['stores'],
    run: RecordRun,
    readonly attempt: number,
  ) {
    this.topology = d.topology.name;
    this.record = run.meta;
    this.deps = d.deps;
    this.clock = d.clock;
    this.logger = d.logger;
    this.pool = d.pool;
    this.signal = d.signal;
    this.labels = run.labels;
  }

  store<T>(ref: StoreRef<T, unknown>): T {
    return declaredStore<T>(this.d, this.step, this.declared, ref);
  }
}

/** `ctx.store`: the opened store, for a store the step declared; an undeclared one is a bug. */
function declaredStore<T>(d: RecordProcessorDeps, step: string, declared: Node['stores'], ref: StoreRef<T, unknown>): T {
  if (!declared.some((s) => s.name === ref.name)) throw new PipelineError(ErrorCodes.INTERNAL, `step ${step} uses state store ${ref.name} without declaring it (stores: [...])`);
  return d.stores.get(ref.name) as T;
}

/** What a step's context says of the record it works on. */
function metaOf(record: LogRecord, key: string | null, schemaId: number): RecordMeta {
  return { topic: record.topic, partition: record.partition, offset: record.offset, key, headers: record.headers, timestamp: record.timestamp, schemaId };
}
