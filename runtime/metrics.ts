import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The label set every captionflow metric carries (STYLE.md): unused labels are empty strings. */
export const LABELS = ['topology', 'step', 'schema_id', 'model_version', 'outcome'] as const;

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

/**
 * The metrics of a captionflow process, on its own prom-client registry (so two runtimes in one
 * test process do not collide), served on `/metrics`.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly records: Counter<(typeof LABELS)[number]>;
  private readonly duration: Histogram<(typeof LABELS)[number]>;
  private readonly inFlight: Gauge<(typeof LABELS)[number]>;
  private readonly lag: Gauge<(typeof LABELS)[number]>;
  private readonly paused: Gauge<(typeof LABELS)[number]>;
  private readonly lagByPartition = new Map<string, number>();
  // Hot path: counts accumulate in a plain map and are flushed into prom-client when scraped
  // (prom-client hashes and validates the label set on every inc, which costs more than the work
  // of a passthrough step). Histogram children are cached for the same reason.
  private readonly pendingCounts = new Map<string, { labels: Record<(typeof LABELS)[number], string>; n: number }>();
  private readonly histogramSeries = new Map<string, (seconds: number) => void>();

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
    this.duration = new Histogram({
      name: `${prefix}step_duration_seconds`,
      help: 'Time a topology step spent on one record (including retries).',
      labelNames: LABELS,
      buckets: [...DURATION_BUCKETS],
      registers: [this.registry],
    });
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
    const key = keyOf(labels);
    let series = this.histogramSeries.get(key);
    if (series === undefined) {
      series = this.seriesOf(full(labels));
      this.histogramSeries.set(key, series);
    }
    return series;
  }

  /**
   * An observer for one label set. prom-client validates and hashes the labels on every observe,
   * which costs more than a passthrough step; after creating the series we update the
   * series' bucket counts in place. The series object is prom-client 15's internal
   * `{ sum, count, bucketValues }` entry; if it cannot be found the regular path is kept.
   */
  private seriesOf(labels: Record<(typeof LABELS)[number], string>): (seconds: number) => void {
    // A zero-valued child: the series exists (and shows on /metrics) from its first use.
    this.duration.zero(labels);
    const internal = this.duration as unknown as { hashMap?: Record<string, { labels: Record<string, string>; sum: number; count: number; bucketValues: Record<string, number> }> };
    const entry = Object.values(internal.hashMap ?? {}).find((e) => LABELS.every((l) => e.labels[l] === labels[l]));
    if (entry === undefined || typeof entry.sum !== 'number' || typeof entry.bucketValues !== 'object') {
      return (seconds) => this.duration.observe(labels, seconds);
    }
    const bounds = DURATION_BUCKETS;
    return (seconds) => {
      entry.sum += seconds;
      entry.count += 1;
      for (const b of bounds) {
        if (seconds <= b) {
          entry.bucketValues[b] = (entry.bucketValues[b] ?? 0) + 1;
          return;
        }
      }
    };
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
