import { corpusBleu } from './bleu.ts';
import { ciderD } from './cider-d.ts';
import { evaluateCaptions, tokenizeEvaluationSet, type CaptionScores } from './evaluate-captions.ts';
import type { TokenizedSample } from './tokenized-sample.ts';

/** One evaluated image: its references and the caption the model generated. */
export interface EvaluatedCaption {
  readonly imageId: string;
  readonly references: readonly string[];
  readonly hypothesis: string;
}

/**
 * The concepts of a caption by kind (e.g. `{ colour: ['red'], shape: ['circle'] }`). For
 * synthetic scenes they come from the scene vocabulary; for real data, the attribute a user
 * filters by. An image's concepts are those its references name.
 */
export interface ConceptTagger {
  /** What one caption names. */
  readonly ofCaption: (caption: string) => Readonly<Record<string, readonly string[]>>;
  /** An image's concepts from its references (default: the union of what they name). */
  readonly ofReferences?: (references: readonly string[]) => Readonly<Record<string, readonly string[]>>;
}

/** Scores of a subset of the evaluated images. */
export interface SubsetScores {
  readonly n: number;
  /** Corpus BLEU-4 of the subset. */
  readonly bleu4: number;
  /**
   * Mean of the per-image CIDEr-D scores computed over the whole set (so subsets stay
   * comparable with each other and with the overall score, which is their weighted mean).
   */
  readonly ciderD: number;
}

/** Scores of the images showing one concept value. */
export interface ConceptScores extends SubsetScores {
  /** Share of these images whose generated caption names the value. */
  readonly named: number;
}

/** One image in the report's lists. */
export interface ReportCaption extends EvaluatedCaption {
  readonly ciderD: number;
}

/** A point of a learning curve: one epoch's train loss and validation figures. */
export interface CurvePoint {
  readonly epoch: number;
  readonly [metric: string]: number;
}

/** What {@link buildEvaluationReport} returns: everything `captionflow models show` prints. */
export interface EvaluationReport {
  readonly n: number;
  readonly overall: CaptionScores;
  /** By mean reference length in words, buckets labelled `<lo>-<hi>` (or `<lo>+`). */
  readonly byLength: Readonly<Record<string, SubsetScores>>;
  /** By concept kind, then value. */
  readonly byConcept: Readonly<Record<string, Readonly<Record<string, ConceptScores>>>>;
  /**
   * For images whose references name exactly one value of a kind: which values the generated
   * caption named (`(none)` when it named none of that kind), by true value.
   */
  readonly confusion: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, number>>>>>>;
  /** Evenly spaced images of the set (deterministic), with references and generated caption. */
  readonly samples: readonly ReportCaption[];
  /** The images with the lowest CIDEr-D, worst first. */
  readonly worst: readonly ReportCaption[];
  /** CIDEr-D of every image by id (what a paired comparison of two models resamples). */
  readonly perImageCiderD: Readonly<Record<string, number>>;
}

/** Options of {@link buildEvaluationReport}. */
export interface EvaluationReportOptions {
  readonly concepts?: ConceptTagger;
  /** Images in `samples` and in `worst` (default 20 each). */
  readonly listSize?: number;
  /** Upper bounds (inclusive) of the length buckets in words (default 6, 9, 12, 16). */
  readonly lengthEdges?: readonly number[];
}

/**
 * Build the evaluation report of one model on one split: the overall scores (exactly
 * {@link evaluateCaptions}' numbers on the same captions), scores by reference length and by
 * concept, the concept confusion, sample captions and the worst captions by CIDEr-D.
 */
export function buildEvaluationReport(items: readonly EvaluatedCaption[], options: EvaluationReportOptions = {}): EvaluationReport {
  const listSize = options.listSize ?? 20;
  const gts = new Map(items.map((it) => [it.imageId, it.references]));
  const res = new Map(items.map((it) => [it.imageId, it.hypothesis]));
  const overall = evaluateCaptions(gts, res);
  const { ids, samples } = tokenizeEvaluationSet(gts, res);
  const perImage = ciderD(samples).perImage;
  const byId = new Map(items.map((it) => [it.imageId, it]));
  const rows = ids.map((id, i) => ({ item: byId.get(id)!, sample: samples[i]!, cider: perImage[i] ?? 0 }));
  type Row = (typeof rows)[number];
  const subset = (chosen: readonly Row[]): SubsetScores => ({
    n: chosen.length,
    bleu4: chosen.length === 0 ? 0 : (corpusBleu(chosen.map((r) => r.sample), 4).scores[3] ?? 0),
    ciderD: chosen.length === 0 ? 0 : chosen.reduce((a, r) => a + r.cider, 0) / chosen.length,
  });

  const edges = options.lengthEdges ?? [6, 9, 12, 16];
  const byLength: Record<string, SubsetScores> = {};
  const buckets = new Map<string, Row[]>();
  for (const row of rows) {
    const label = lengthBucket(meanRefLength(row.sample), edges);
    buckets.set(label, [...(buckets.get(label) ?? []), row]);
  }
  for (const label of bucketLabels(edges)) {
    const chosen = buckets.get(label);
    if (chosen !== undefined) byLength[label] = subset(chosen);
  }

  const byConcept: Record<string, Record<string, ConceptScores>> = {};
  const confusion: Record<string, Record<string, Record<string, number>>> = {};
  const tagger = options.concepts;
  if (tagger !== undefined) {
    const groups = new Map<string, Map<string, { rows: Row[]; named: number }>>();
    for (const row of rows) {
      const truth = tagger.ofReferences?.(row.item.references) ?? unionTags(row.item.references.map(tagger.ofCaption));
      const said = tagger.ofCaption(row.item.hypothesis);
      for (const [kind, values] of Object.entries(truth)) {
        const kindGroups = groups.get(kind) ?? new Map<string, { rows: Row[]; named: number }>();
        groups.set(kind, kindGroups);
        const saidValues = said[kind] ?? [];
        for (const value of values) {
          const g = kindGroups.get(value) ?? { rows: [], named: 0 };
          kindGroups.set(value, g);
          g.rows.push(row);
          if (saidValues.includes(value)) g.named++;
        }
        const only = values.length === 1 ? values[0] : undefined;
        if (only !== undefined) {
          const table = (confusion[kind] ??= {});
          const line = (table[only] ??= {});
          for (const v of saidValues.length === 0 ? ['(none)'] : saidValues) line[v] = (line[v] ?? 0) + 1;
        }
      }
    }
    for (const [kind, kindGroups] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const out: Record<string, ConceptScores> = {};
      for (const [value, g] of [...kindGroups].sort(([a], [b]) => (a < b ? -1 : 1))) {
        out[value] = { ...subset(g.rows), named: g.named / g.rows.length };
      }
      byConcept[kind] = out;
    }
  }

  const caption = (r: Row): ReportCaption => ({ imageId: r.item.imageId, references: r.item.references, hypothesis: r.item.hypothesis, ciderD: r.cider });
  const step = rows.length / Math.min(listSize, rows.length);
  const sampleRows = Array.from({ length: Math.min(listSize, rows.length) }, (_, k) => rows[Math.floor(k * step)]!);
  const worst = [...rows].sort((a, b) => a.cider - b.cider || (a.item.imageId < b.item.imageId ? -1 : 1)).slice(0, listSize);
  const perImageCiderD = Object.fromEntries(rows.map((r) => [r.item.imageId, r.cider]));
  return { n: rows.length, overall, byLength, byConcept, confusion, samples: sampleRows.map(caption), worst: worst.map(caption), perImageCiderD };
}

function meanRefLength(sample: TokenizedSample): number {
  return sample.refs.reduce((a, r) => a + r.length, 0) / Math.max(1, sample.refs.length);
}

function bucketLabels(edges: readonly number[]): string[] {
  const labels: string[] = [];
  let lo = 0;
  for (const hi of edges) {
    labels.push(`${lo}-${hi}`);
    lo = hi + 1;
  }
  labels.push(`${lo}+`);
  return labels;
}

function lengthBucket(length: number, edges: readonly number[]): string {
  const labels = bucketLabels(edges);
  const index = edges.findIndex((hi) => Math.round(length) <= hi);
  return labels[index === -1 ? labels.length - 1 : index]!;
}

/** The union of the concepts several captions name, by kind. */
export function unionTags(tags: readonly Readonly<Record<string, readonly string[]>>[]): Record<string, readonly string[]> {
  const out: Record<string, Set<string>> = {};
  for (const t of tags) for (const [kind, values] of Object.entries(t)) for (const v of values) (out[kind] ??= new Set()).add(v);
  return Object.fromEntries(Object.entries(out).map(([k, s]) => [k, [...s].sort()]));
}
