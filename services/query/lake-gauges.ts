/**
 * Lake gauges for Prometheus, read from the catalog at scrape time (prom-client `collect`), so
 * they are as fresh as the scrape and cost nothing between scrapes: items per layer, status and
 * split; open dead letters per code; captions per origin; dataset versions; the champion's
 * metrics. Every replica reports the same values (they are the catalog's): aggregate with max.
 */
import { Gauge } from 'prom-client';
import type { Metrics } from '../../runtime/metrics.ts';
import type { Lake } from '../../runtime/lake/lake.ts';

/** Options of {@link registerLakeGauges}. */
export interface LakeGaugeOptions {
  /** The model whose champion's metrics are reported. */
  readonly modelName: string;
}

/** Register the lake gauges on `metrics`' registry. */
export function registerLakeGauges(metrics: Metrics, lake: Lake, options: LakeGaugeOptions): void {
  const registers = [metrics.registry];
  const { catalog } = lake;
  const fill = (gauge: Gauge<string>, label: string, counts: Record<string, number>): void => {
    gauge.reset();
    for (const [value, n] of Object.entries(counts))
      gauge.set({ [label]: value === 'null' ? 'none' : value }, n);
  };
  new Gauge({
    name: 'captionflow_lake_items',
    help: 'Catalog images per layer',
    labelNames: ['layer'],
    registers,
    async collect() {
      fill(this, 'layer', await catalog.images.countBy('layer'));
    },
  });
  new Gauge({
    name: 'captionflow_lake_items_by_status',
    help: 'Catalog images per status',
    labelNames: ['status'],
    registers,
    async collect() {
      fill(this, 'status', await catalog.images.countBy('status'));
    },
  });
  new Gauge({
    name: 'captionflow_lake_items_by_split',
    help: 'Catalog images per split (none: not curated)',
    labelNames: ['split'],
    registers,
    async collect() {
      fill(this, 'split', await catalog.images.countBy('split'));
    },
  });
  new Gauge({
    name: 'captionflow_lake_dead_letters',
    help: 'Open (not replayed) dead letters per error code',
    labelNames: ['code'],
    registers,
    async collect() {
      fill(this, 'code', await catalog.deadLetters.countOpenByCode());
    },
  });
  new Gauge({
    name: 'captionflow_lake_captions',
    help: 'Captions per origin (human, machine)',
    labelNames: ['origin'],
    registers,
    async collect() {
      fill(this, 'origin', await catalog.captions.countByOrigin());
    },
  });
  new Gauge({
    name: 'captionflow_lake_dataset_versions',
    help: 'Dataset versions in the catalog',
    registers,
    async collect() {
      let n = 0;
      let after: string | undefined;
      do {
        const page = await catalog.datasets.list({ limit: 1000, ...(after === undefined ? {} : { after }) });
        n += page.items.length;
        after = page.next ?? undefined;
      } while (after !== undefined);
      this.set(n);
    },
  });
  new Gauge({
    name: 'captionflow_model_champion_metric',
    help: "The champion model's evaluation metrics",
    labelNames: ['model_version', 'metric'],
    registers,
    async collect() {
      this.reset();
      const champion = await catalog.models.byAlias(options.modelName, 'champion');
      if (champion === null) return;
      for (const [metric, value] of Object.entries(champion.metrics))
        this.set({ model_version: champion.id, metric }, value);
    },
  });
}
