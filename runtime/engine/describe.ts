/**
 * Printing a topology, in the spirit of Kafka Streams' `Topology#describe()`: stable text, so a
 * snapshot test notices any change of shape, and Mermaid, so the whole pipeline can be drawn.
 */
import type { Node, Topology } from './topology.ts';

function shortModule(url: URL): string {
  return url.pathname.split('/').slice(-2).join('/');
}

/** How a node is printed: its heading and what it does. */
function headline(t: Topology<never>, n: Node): string {
  const policy = n.errors?.otherwise ?? t.errors.otherwise;
  const stores = n.stores.length === 0 ? '' : `, state: ${n.stores.map((s) => s.name).join(', ')}`;
  switch (n.kind) {
    case 'map':
      return `Processor: ${n.name} (map, in-process${stores}, on error: ${policy})`;
    case 'flatMap':
      return `Processor: ${n.name} (${n.label}, in-process${stores}, on error: ${policy})`;
    case 'worker':
      return `Processor: ${n.name} (worker, worker pool: ${shortModule(n.module)}${stores}, on error: ${policy})`;
    case 'effect':
      return `Effect: ${n.name} (writes ${n.target}; idempotent by key${stores}, on error: ${policy})`;
    case 'branch':
      return `Branch: ${n.name} (routes: ${[...n.branches.keys()].join(' | ')}${stores}, on error: ${policy})`;
    case 'batch':
      return `Processor: ${n.name} (micro-batch: up to ${n.maxSize} values or ${n.maxDelayMs}ms, in-process${stores}, on error: ${policy})`;
    case 'sink':
      return `Sink: ${n.name} (topic: ${n.topic.name})`;
  }
}

/** The topology as text: one line per node with its predecessor, then its stores and dead letters. */
export function describe<D>(topology: Topology<D>): string {
  const t = topology as Topology<never>;
  const lines: string[] = [`Topology: ${t.name}${t.description === undefined ? '' : ` — ${t.description}`}`];
  lines.push(`  Source: ${t.source.topic.name} (group: ${t.source.group})`);
  lines.push(`    --> decode`);
  const visit = (nodes: readonly Node[], parent: string): void => {
    for (const n of nodes) {
      lines.push(`  ${headline(t, n)}\n    <-- ${parent}`);
      if (n.kind === 'branch') for (const [route, branch] of n.branches) visit(branch, `${n.name}[${route}]`);
      visit(n.children, n.name);
    }
  };
  visit(t.nodes, 'decode');
  for (const s of t.stores) lines.push(`  State store: ${s.name} (${s.backing}) — ${s.description}`);
  const r = t.errors.retry;
  lines.push(
    `  Dead letters: ${t.deadLetterTopic} (retry: ${r.attempts} attempts, ${r.initialDelayMs}ms x${r.factor} up to ${r.maxDelayMs}ms; then ${t.errors.otherwise}; dependency outages: ${t.errors.outages === 'wait' ? 'wait, fetching paused' : 'retried as above'})`,
  );
  return lines.join('\n');
}

/** Text made safe inside a quoted Mermaid label (angle brackets would read as HTML). */
export function mermaidText(text: string): string {
  return text.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

/** A Mermaid-safe id. */
export function mermaidId(prefix: string, name: string): string {
  return `${prefix}_${name}`.replace(/[^A-Za-z0-9_]+/g, '_');
}

/** The id of a topic's node in a pipeline's Mermaid graph. */
export function topicNodeId(topic: string): string {
  return mermaidId('topic', topic);
}

/**
 * The topology as a Mermaid subgraph. Topics are referenced by {@link topicNodeId} and declared
 * by the caller (once for the whole pipeline, so topologies connect through the topics they
 * share); state stores likewise by `mermaidId('store', name)`.
 */
export function mermaid<D>(topology: Topology<D>): { lines: string[]; topics: string[]; stores: string[] } {
  const t = topology as Topology<never>;
  const id = (n: string): string => mermaidId(t.name, n);
  const lines = [`  subgraph ${mermaidId('topology', t.name)}["topology: ${t.name}"]`];
  const edges: string[] = [];
  const topics = new Set<string>([t.source.topic.name]);
  const stores = new Set<string>();
  const shape = (n: Node): string => {
    switch (n.kind) {
      case 'effect':
        return `${id(n.name)}[/"${n.name}<br/>${mermaidText(n.target)}"/]`;
      case 'branch':
        return `${id(n.name)}{"${n.name}"}`;
      case 'worker':
        return `${id(n.name)}[["${n.name}"]]`;
      default:
        return `${id(n.name)}["${n.name}"]`;
    }
  };
  const declared = new Set<string>();
  const visit = (nodes: readonly Node[], parent: string, label = ''): void => {
    for (const n of nodes) {
      if (n.kind === 'sink') {
        topics.add(n.topic.name);
        edges.push(`  ${parent} -->${label} ${topicNodeId(n.topic.name)}`);
        continue;
      }
      if (!declared.has(n.name)) {
        lines.push(`    ${shape(n)}`);
        declared.add(n.name);
      }
      edges.push(`  ${parent} -->${label} ${id(n.name)}`);
      for (const s of n.stores) {
        stores.add(s.name);
        edges.push(`  ${id(n.name)} <-.-> ${mermaidId('store', s.name)}`);
      }
      if (n.kind === 'branch') for (const [route, branch] of n.branches) visit(branch, id(n.name), `|${route}|`);
      visit(n.children, id(n.name));
    }
  };
  visit(t.nodes, topicNodeId(t.source.topic.name), `|group ${t.source.group}|`);
  lines.push('  end');
  topics.add(t.deadLetterTopic);
  edges.push(`  ${mermaidId('topology', t.name)} -.->|dead letters| ${topicNodeId(t.deadLetterTopic)}`);
  // Same edge twice (a reusable part on several branches) is drawn once.
  return { lines: [...lines, ...new Set(edges)], topics: [...topics], stores: [...stores] };
}
