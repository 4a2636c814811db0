import type { ModelRecord } from '../../runtime/catalog/catalog.ts';
import type { StoredEvaluationReport } from '../../runtime/lake/model-reports.ts';
import type { ReportCaption, SubsetScores } from '../../processors/metrics/index.ts';

const f = (x: number | undefined, digits = 4): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

function subsetRow(label: string, s: SubsetScores): string[] {
  return [label, String(s.n), f(s.bleu4), f(s.ciderD, 3)];
}

function captions(list: readonly ReportCaption[]): string[] {
  return list.flatMap((c) => [`  ${c.imageId}  CIDEr-D ${f(c.ciderD, 3)}`, `    model: ${c.hypothesis}`, ...c.references.map((r) => `    ref:   ${r}`)]);
}

/**
 * A model version and its evaluation report as text for `captionflow models show`: the record,
 * the gate's verdict, overall scores, scores by length and by concept, the concept confusion,
 * the learning curves, sample captions and the worst captions.
 */
export function formatModelReport(model: ModelRecord, report: StoredEvaluationReport | null): string {
  const out: string[] = [
    `model ${model.id} (${model.name})  status ${model.status}  dataset ${model.datasetId ?? '-'}  created ${model.createdAt}`,
    `params ${JSON.stringify(Object.fromEntries(Object.entries(model.params).filter(([k]) => k !== 'evaluationReport')))}`,
  ];
  if (report === null) {
    out.push('', 'no evaluation report stored for this version (trained before reports existed, or not evaluated yet)');
    return `${out.join('\n')}\n`;
  }
  const decoding = report.decoding.strategy === 'beam' ? `beam ${report.decoding.beamSize ?? ''}`.trim() : 'greedy';
  out.push('', `evaluation on ${report.datasetId} ${report.split} split: ${report.n} images, ${decoding} decoding, ${report.createdAt}`);
  if (report.gate !== undefined) out.push(`gate: ${report.gate.reason}`);
  const o = report.overall;
  out.push('', 'overall', ...table(['BLEU-1', 'BLEU-2', 'BLEU-3', 'BLEU-4', 'ROUGE-L', 'CIDEr-D'], [[f(o.bleu1), f(o.bleu2), f(o.bleu3), f(o.bleu4), f(o.rougeL), f(o.ciderD, 3)]]).map((l) => `  ${l}`));
  out.push('', 'by mean reference length (words)', ...table(['length', 'n', 'BLEU-4', 'CIDEr-D'], Object.entries(report.byLength).map(([k, s]) => subsetRow(k, s))).map((l) => `  ${l}`));
  for (const [kind, values] of Object.entries(report.byConcept)) {
    const rows = Object.entries(values).map(([v, s]) => [...subsetRow(v, s), pct(s.named)]);
    out.push('', `by ${kind}`, ...table([kind, 'n', 'BLEU-4', 'CIDEr-D', 'named'], rows).map((l) => `  ${l}`));
  }
  for (const [kind, lines] of Object.entries(report.confusion)) {
    const rows = Object.entries(lines).map(([truth, said]) => [truth, Object.entries(said).sort(([, a], [, b]) => b - a).map(([v, n]) => `${v} ${n}`).join(', ')]);
    out.push('', `${kind} confusion (images with one ${kind}: what the caption said)`, ...table(['true', 'said'], rows).map((l) => `  ${l}`));
  }
  if (report.curves.length > 0) {
    const keys = [...new Set(report.curves.flatMap((p) => Object.keys(p)))].filter((k) => k !== 'epoch' && k !== 'valItems');
    out.push('', 'learning curves', ...table(['epoch', ...keys], report.curves.map((p) => [String(p.epoch), ...keys.map((k) => f(p[k]))])).map((l) => `  ${l}`));
  }
  out.push('', `samples (${report.samples.length})`, ...captions(report.samples));
  out.push('', `worst ${report.worst.length} by CIDEr-D`, ...captions(report.worst));
  return `${out.join('\n')}\n`;
}
