import { Counter, Gauge, Registry, collectDefaultMetrics, type Histogram } from 'prom-client';

/** The label set every captionflow metric carries (STYLE.md): unused labels are empty strings. */
export const LABELS = ['topology', 'step', 'schema_id', 'model_version', 'outcome'] as const;

type Label = (typeof LABELS)[number];

/** Upper bounds (seconds) of the step duration histogram. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** Label values of one observation. */
export type MetricLabels = { readonly [K in (typeof LABELS)[number]]?: string | undefined };

/** The cache key of a label set (label values never contain NUL). */
function keyOf(labels: MetricLabels): string {
  return `${labels.topology ?? ''}\u0000${labels.step ?? ''}\u0000${labels.schema_id ?? ''}\u0000${labels.model_version ?? ''}\u0000${labels.outcome ?? ''}`;
}

function full(labels: MetricLabels): Record<(typeof LABELS)[number], string> {
  return {
    topology: labels.topology ?? '',
    step: labels.step ?? '',
    schema_id: labels.schema_id ?? '',
    model_version: labels.model_version ?? '',
    outcome: labels.outcome ?? '',
  };
}

/** One series of an {@link AccumulatedHistogram}: plain numbers its observer updates in place. */
interface HistogramSeries {
  readonly labels: Readonly<Record<Label, string>>;
  /** Observations per bucket, not cumulative; index i counts values in (bounds[i-1], bounds[i]]. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
  readonly observe: (value: number) => void;
}

/** A sample as prom-client's registry reads it from a metric's `get()` (see {@link AccumulatedHistogram}). */
interface Sample {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/**
 * A Prometheus histogram whose series are plain numbers, updated by per-series observers.
 *
 * Why not prom-client's Histogram: it validates and hashes the label set on every observe, a
 * `labels(...)` child included (tests/bench/metrics.ts: about 100x the cost of this observer,
 * more than a passthrough step spends on a record), and it has no public way to publish
 * already-counted buckets (prometheus/client_js#241). So this metric keeps its own numbers and
 * is registered on the registry as a metric of its own: the registry reads every metric
 * through `get()`, returning the shape `getMetricsAsJSON()` documents — the same contract
 * prom-client's `AggregatorRegistry.aggregate()` relies on when it registers the metrics it
 * aggregated. The exposition (HELP, TYPE, escaping, OpenMetrics) stays prom-client's.
 */
class AccumulatedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {
    for (let i = 0; i < bounds.length; i++) {
      const b = bounds[i]!;
      if (!Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!)) {
        throw new TypeError(`${name}: bucket bounds must be finite and increasing, got ${JSON.stringify(bounds)}`);
      }
    }
  }

  /**
   * The observer of the series `key`, made (at zero, so it shows on /metrics from its first
   * use) with the labels `labelsOf` gives when the series is new.
   */
  observer(key: string, labelsOf: () => Readonly<Record<Label, string>>): (value: number) => void {
    const found = this.series.get(key);
    if (found !== undefined) return found.observe;
    const bounds = this.bounds;
    const s: HistogramSeries = {
      labels: labelsOf(),
      counts: new Float64Array(this.bounds.length),
      sum: 0,
      count: 0,
      observe: (value) => {
        // As prom-client's observe: a NaN or infinite value would poison the sum for good.
        if (!Number.isFinite(value)) throw new TypeError(`${this.name}: not a finite number: ${value}`);
        s.sum += value;
        s.count += 1;
        for (let i = 0; i < bounds.length; i++) {
          if (value <= bounds[i]!) {
            s.counts[i]! += 1;
            return;
          }
        }
      },
    };
    this.series.set(key, s);
    return s.observe;
  }

  /** The samples of every series: cumulative buckets, `+Inf`, sum and count (read by the registry). */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ metricName: bucket, labels: { le: this.bounds[i]!, ...s.labels }, value: cumulative });
      }
      values.push({ metricName: bucket, labels: { le: '+Inf', ...s.labels }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** Zero every series (`registry.resetMetrics()`); observers handed out stay live. */
  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

/**
 * The metrics of a captionflow process, on its own prom-client registry (so two runtimes in one
 * test process do not collide), served on `/metrics`.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly records: Counter<(typeof LABELS)[number]>;
  private readonly duration: AccumulatedHistogram;
  private readonly inFlight: Gauge<(typeof LABELS)[number]>;
  private readonly lag: Gauge<(typeof LABELS)[number]>;
  private readonly paused: Gauge<(typeof LABELS)[number]>;
  private readonly lagByPartition = new Map<string, number>();
  // Hot path: counts accumulate in a plain map and are flushed into prom-client when scraped
  // (prom-client hashes and validates the label set on every inc, which costs more than the work
  // of a passthrough step); durations live in plain numbers for the same reason.
  private readonly pendingCounts = new Map<string, { labels: Record<(typeof LABELS)[number], string>; n: number }>();

  constructor(options: { defaultMetrics?: boolean; prefix?: string } = {}) {
    const prefix = options.prefix ?? 'captionflow_';
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: this.registry, prefix });
    const pending = this.pendingCounts;
    this.records = new Counter({
      name: `${prefix}step_records_total`,
      help: 'Records handled by a topology step, by outcome (ok, dropped, retry, dead_letter, or an error code).',
      labelNames: LABELS,
      registers: [this.registry],
      collect(this: Counter<(typeof LABELS)[number]>) {
        for (const entry of pending.values()) {
          if (entry.n === 0) continue;
          this.inc(entry.labels, entry.n);
          entry.n = 0;
        }
      },
    });
    this.duration = new AccumulatedHistogram(
      `${prefix}step_duration_seconds`,
      'Time a topology step spent on one record (including retries).',
      DURATION_BUCKETS,
    );
    // registerMetric is typed for prom-client's own four classes; the registry reads any metric
    // through get() (see AccumulatedHistogram).
    this.registry.registerMetric(this.duration as unknown as Histogram<Label>);
    this.inFlight = new Gauge({
      name: `${prefix}step_in_flight`,
      help: 'Records a topology is working on right now.',
      labelNames: LABELS,
      registers: [this.registry],
    });
    this.paused = new Gauge({
      name: `${prefix}topology_paused`,
      help: 'Whether a topology has stopped fetching (1): paused by an operator, or waiting for a dependency or a sink that is down.',
      labelNames: LABELS,
      registers: [this.registry],
    });
    this.lag = new Gauge({
      name: `${prefix}consumer_lag_records`,
      help: 'Records between the last fetched offset and the end of the source topic, summed over partitions.',
      labelNames: LABELS,
      registers: [this.registry],
    });
  }

  /** Count one record at a step with an outcome. */
  count(labels: MetricLabels, n = 1): void {
    this.pendingEntry(labels).n += n;
  }

  /**
   * A counter for one fixed label set, for hot paths that count the same series per record:
   * no label hashing per increment (the runner keeps one per step and outcome).
   */
  counter(labels: MetricLabels): (n?: number) => void {
    const entry = this.pendingEntry(labels);
    return (n = 1) => {
      entry.n += n;
    };
  }

  private pendingEntry(labels: MetricLabels): { n: number } {
    const key = keyOf(labels);
    let entry = this.pendingCounts.get(key);
    if (entry === undefined) {
      entry = { labels: full(labels), n: 0 };
      this.pendingCounts.set(key, entry);
    }
    return entry;
  }

  /** Observe the seconds a step took. */
  observe(labels: MetricLabels, seconds: number): void {
    this.observer(labels)(seconds);
  }

  /** A duration observer for one fixed label set (see {@link counter}). */
  observer(labels: MetricLabels): (seconds: number) => void {
    return this.duration.observer(keyOf(labels), () => full(labels));
  }

  /** Move the in-flight gauge of a topology. */
  inFlightAdd(topology: string, delta: number): void {
    this.inFlight.inc(full({ topology, step: 'source' }), delta);
  }

  /** Mark a topology paused (1) or fetching (0). */
  setPaused(topology: string, paused: boolean): void {
    this.paused.set(full({ topology, step: 'source' }), paused ? 1 : 0);
  }

  /** Record a partition's lag; the gauge shows the sum over partitions. */
  setLag(topology: string, topic: string, partition: number, lag: number): void {
    this.lagByPartition.set(`${topology}\u0000${topic}\u0000${partition}`, lag);
    let sum = 0;
    for (const [k, v] of this.lagByPartition) if (k.startsWith(`${topology}\u0000`)) sum += v;
    this.lag.set(full({ topology, step: 'source' }), sum);
  }

  /** The text exposition format (for `/metrics`). */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Current value of the records counter for some labels (tests, dashboards). */
  async recordCount(labels: MetricLabels): Promise<number> {
    const m = await this.records.get(); // get() runs collect(), flushing pending counts
    return m.values
      .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k as keyof typeof v.labels] === want))
      .reduce((a, v) => a + v.value, 0);
  }
}
