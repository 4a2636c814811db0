/**
 * The metric names (with their labels) a captionflow process exports, read from the exposition
 * of a real `Metrics` after every kind of series was touched; and the metric selectors a PromQL
 * expression uses. Shared by the Prometheus-rule and Grafana-dashboard tests.
 */
import { Metrics } from '../../../runtime/metrics.ts';
import type { Lake } from '../../../runtime/lake/lake.ts';
import { registerLakeGauges } from '../../../services/query/lake-gauges.ts';
import { ServingMetrics } from '../../../services/serving/serving-metrics.ts';

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance', 'le'];

/** A catalog with one of everything the lake gauges count. */
const STUB_LAKE = {
  catalog: {
    images: { countBy: (field: string) => Promise.resolve({ [field]: 1 }) },
    deadLetters: { countOpenByCode: () => Promise.resolve({ CODE: 1 }) },
    captions: { countByOrigin: () => Promise.resolve({ human: 1 }) },
    datasets: { list: () => Promise.resolve({ items: [{}], next: null }) },
    models: { byAlias: () => Promise.resolve({ id: 'm-1', metrics: { loss: 1 } }) },
  },
} as unknown as Lake;

/**
 * Metric name → label names, from a fresh process's /metrics with every series family touched:
 * the engine's (runtime/metrics.ts, also jobs and HTTP), caption serving's and the lake gauges.
 */
export async function exportedMetrics(): Promise<Map<string, Set<string>>> {
  const m = new Metrics({ defaultMetrics: true });
  m.count({ topology: 't', step: 's', outcome: 'ok' });
  m.observe({ topology: 't', step: 's', outcome: 'ok' }, 0.1);
  m.inFlightAdd('t', 1);
  m.setPaused('t', false);
  m.setLag('t', 'topic', 0, 1);
  const serving = new ServingMetrics(m);
  serving.request('ok', 'v', 0.1);
  serving.image('ok', 'v', 0.1);
  serving.batchRan('v', 1, 0.1);
  serving.serving('champion', 'v', true);
  serving.loadFailed('v', 'CODE');
  registerLakeGauges(m, STUB_LAKE, { modelName: 'm' });
  const out = new Map<string, Set<string>>();
  for (const line of (await m.text()).split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s/.exec(line);
    if (match === null) continue;
    const labels = new Set(TARGET_LABELS);
    for (const pair of (match[3] ?? '').split(',')) if (pair.includes('=')) labels.add(pair.slice(0, pair.indexOf('=')));
    const prev = out.get(match[1]!);
    out.set(match[1]!, prev === undefined ? labels : new Set([...prev, ...labels]));
  }
  return out;
}

const FUNCTIONS_AND_KEYWORDS = new Set([
  'sum', 'rate', 'irate', 'increase', 'deriv', 'histogram_quantile', 'by', 'without', 'and', 'or', 'unless', 'on', 'ignoring', 'max', 'min', 'avg', 'count',
  'topk', 'bottomk', 'delta', 'avg_over_time', 'max_over_time', 'min_over_time', 'abs', 'clamp_min', 'label_replace', 'vector', 'scalar', 'offset', 'bool', 'le', 'group_left', 'group_right',
]);

/** The metric selectors of a PromQL expression: metric name and the label names it matches on or groups by. */
export function metricSelectors(expr: string): { metric: string; labels: string[] }[] {
  const out: { metric: string; labels: string[] }[] = [];
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const grouping = [...noStrings.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)].flatMap((g) => g[1]!.split(',').map((s) => s.trim()).filter(Boolean));
  const body = noStrings.replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, '').replace(/\[[^\]]*\]/g, '');
  for (const m of body.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{([^}]*)\})?/g)) {
    const name = m[1]!;
    if (FUNCTIONS_AND_KEYWORDS.has(name) || /^\d/.test(name) || (m[2] === undefined && !name.startsWith('captionflow_'))) continue;
    const labels = (m[3] ?? '').split(',').map((p) => p.trim().split(/\s*(?:=~|!~|!=|=)\s*/)[0]!).filter(Boolean);
    out.push({ metric: name, labels: [...labels, ...grouping] });
  }
  return out;
}
