/** The versions of a registered model as `captionflow models list` and `GET /admin/models` show them. */
import type { Catalog, ModelRecord } from '../../runtime/catalog/catalog.ts';

/** One registered version as `models list` shows it. */
export interface ModelVersionEntry {
  readonly version: string;
  readonly aliases: readonly string[];
  /** `trained` by the retrain loop, or `imported` from a model folder. */
  readonly source: 'trained' | 'imported';
  readonly format: string;
  readonly status: string;
  readonly datasetId: string | null;
  /** Test-split scores (BLEU-1..4, ROUGE-L, CIDEr-D) once evaluated, and training figures. */
  readonly metrics: Readonly<Record<string, number>>;
  readonly createdAt: string;
}

/** Where a version came from: recorded by imports; versions trained before that are the trainer's exports. */
export function sourceOf(model: ModelRecord): 'trained' | 'imported' {
  return model.params.source === 'imported' ? 'imported' : 'trained';
}

/** The versions of model `name`, newest first, with the aliases pointing at each. */
export async function modelVersions(catalog: Catalog, name: string, limit = 100): Promise<ModelVersionEntry[]> {
  const [versions, aliases] = await Promise.all([catalog.models.listByName(name, limit), catalog.models.listAliases(name)]);
  return versions.map((m) => ({
    version: m.id,
    aliases: aliases.filter((a) => a.version === m.id).map((a) => a.alias).sort(),
    source: sourceOf(m),
    format: typeof m.params.format === 'string' ? m.params.format : 'captionflow-onnx',
    status: m.status,
    datasetId: m.datasetId,
    metrics: m.metrics,
    createdAt: m.createdAt,
  }));
}

/** A score with `digits` decimals, `-` when absent. */
export const score = (x: number | undefined, digits: number): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/** The versions as a table for people. */
export function formatModelVersions(name: string, entries: readonly ModelVersionEntry[]): string {
  if (entries.length === 0) return `no versions of model ${name} yet (captionflow train, or captionflow models import <dir>)\n`;
  const header = ['version', 'aliases', 'source', 'status', 'CIDEr-D', 'BLEU-4', 'created'];
  const rows = entries.map((e) => [e.version, e.aliases.join(',') || '-', e.source, e.status, score(e.metrics.ciderD, 3), score(e.metrics.bleu4, 4), e.createdAt]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return `${[header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`;
}
