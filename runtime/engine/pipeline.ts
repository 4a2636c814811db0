/**
 * The whole pipeline as data: the doors events come in by, the topics, the topologies between
 * them (with their effects and state stores) and the jobs. One value of this type, built by the
 * composition root, is what `captionflow describe` prints — as text and as Mermaid — and what
 * decides which topologies a process runs.
 */
import { describe, mermaid, mermaidId, mermaidText, topicNodeId } from './describe.ts';
import type { Topology, TopicRef } from './topology.ts';

/** A way events enter the pipeline: an HTTP route, a command, or producers writing to a topic. */
export interface Door {
  readonly name: string;
  readonly kind: 'http' | 'cli' | 'topic';
  /** The route, the command, or the topic producers write to. */
  readonly at: string;
  readonly description: string;
  /** Topics the door appends to. */
  readonly emits: readonly TopicRef[];
  /** What else it writes (objects, catalog), as effects are described. */
  readonly writes: readonly string[];
}

/** A scheduled or event-triggered job (the old stack's Airflow DAGs). */
export interface JobDeclaration {
  readonly name: string;
  readonly description: string;
  /** When it runs, in words (`every 10 min`, `on model.registered`). */
  readonly trigger: string;
  readonly reads: readonly string[];
  readonly emits: readonly TopicRef[];
}

/** A topology as the pipeline runs it. */
export interface PipelineTopology {
  readonly topology: Topology<never>;
  /** Runs in `captionflow run` (and `npm start`); false for topologies a deployment opts into. */
  readonly runsByDefault: boolean;
}

/** The pipeline. */
export interface Pipeline {
  readonly doors: readonly Door[];
  readonly topologies: readonly PipelineTopology[];
  readonly jobs: readonly JobDeclaration[];
}

/** Topics the pipeline touches, with who writes and who reads each. */
export function topicsOfPipeline(p: Pipeline): Map<string, { writers: string[]; readers: string[] }> {
  const topics = new Map<string, { writers: string[]; readers: string[] }>();
  const at = (name: string) => {
    let t = topics.get(name);
    if (t === undefined) topics.set(name, (t = { writers: [], readers: [] }));
    return t;
  };
  for (const d of p.doors) for (const t of d.emits) at(t.name).writers.push(`door ${d.name}`);
  for (const { topology: t } of p.topologies) {
    at(t.source.topic.name).readers.push(`topology ${t.name} (group ${t.source.group})`);
    for (const name of mermaid(t).topics) if (name !== t.source.topic.name) at(name).writers.push(`topology ${t.name}`);
  }
  for (const j of p.jobs) for (const t of j.emits) at(t.name).writers.push(`job ${j.name}`);
  return topics;
}

/** The pipeline as text: doors, topics, each topology's graph, jobs. */
export function describePipeline(p: Pipeline): string {
  const out: string[] = ['Doors'];
  for (const d of p.doors) {
    out.push(`  ${d.name} (${d.kind}: ${d.at}) — ${d.description}`);
    out.push(`    ${[d.emits.length === 0 ? '' : `emits: ${d.emits.map((t) => t.name).join(', ')}`, d.writes.length === 0 ? '' : `writes: ${d.writes.join('; ')}`].filter((x) => x !== '').join('; ')}`);
  }
  out.push('', 'Topics');
  for (const [name, t] of [...topicsOfPipeline(p)].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(`  ${name}: written by ${t.writers.join(', ') || 'nobody here (external producers)'}; read by ${t.readers.join(', ') || 'nobody here (external consumers)'}`);
  }
  for (const { topology, runsByDefault } of p.topologies) out.push('', `${describe(topology)}${runsByDefault ? '' : '\n  (opt-in: not started by default)'}`);
  out.push('', 'Jobs');
  for (const j of p.jobs) {
    out.push(`  ${j.name} (${j.trigger}) — ${j.description}`);
    out.push(`    reads: ${j.reads.join('; ')}${j.emits.length === 0 ? '' : `; emits: ${j.emits.map((t) => t.name).join(', ')}`}`);
  }
  return out.join('\n');
}

/** The pipeline as a Mermaid flowchart: doors → topics → topologies → topics, stores and jobs. */
export function pipelineMermaid(p: Pipeline): string {
  const lines = ['flowchart LR'];
  const topics = new Set<string>();
  const stores = new Map<string, string>();
  const edges: string[] = [];
  for (const d of p.doors) {
    lines.push(`  ${mermaidId('door', d.name)}(["${mermaidText(d.kind === 'http' ? d.at : d.name)}"])`);
    for (const t of d.emits) {
      topics.add(t.name);
      edges.push(`  ${mermaidId('door', d.name)} --> ${topicNodeId(t.name)}`);
    }
  }
  for (const { topology } of p.topologies) {
    const m = mermaid(topology);
    lines.push(...m.lines.filter((l) => !l.includes('-->') && !l.includes('-.->') && !l.includes('<-.->')));
    edges.push(...m.lines.filter((l) => l.includes('-->') || l.includes('-.->') || l.includes('<-.->')));
    for (const t of m.topics) topics.add(t);
    for (const s of topology.stores) stores.set(s.name, s.backing);
  }
  for (const j of p.jobs) {
    lines.push(`  ${mermaidId('job', j.name)}[["job: ${j.name}<br/>${mermaidText(j.trigger)}"]]`);
    for (const t of j.emits) {
      topics.add(t.name);
      edges.push(`  ${mermaidId('job', j.name)} --> ${topicNodeId(t.name)}`);
    }
  }
  for (const t of [...topics].sort()) lines.push(`  ${topicNodeId(t)}[("${t}")]`);
  for (const [name, backing] of stores) lines.push(`  ${mermaidId('store', name)}[("state: ${name}<br/>${mermaidText(backing)}")]`);
  return [...lines, ...edges].join('\n');
}
