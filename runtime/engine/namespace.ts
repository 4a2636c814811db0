import type { Node, Topology } from './topology.ts';

/**
 * Topic namespaces: several deployments (staging and production, or parallel test runs) share
 * one Kafka cluster by prefixing topic and consumer-group names. A namespace is applied to a
 * topology as data, so the topology's definition stays the logical graph.
 */
export interface TopicNamespace {
  readonly prefix: string;
  /** The physical topic name of a logical one. */
  readonly topic: (logical: string) => string;
  /** The logical topic name of a physical one (the schema contract it carries). */
  readonly logical: (physical: string) => string;
}

/** A namespace with `prefix` ('' for none). Prefixes must be simple names: letters, digits, `.`, `_`, `-`. */
export function topicNamespace(prefix: string): TopicNamespace {
  if (prefix !== '' && !/^[A-Za-z0-9._-]{1,100}$/.test(prefix)) throw new TypeError(`topic prefix ${JSON.stringify(prefix)} must match [A-Za-z0-9._-]{1,100}`);
  const p = prefix === '' ? '' : `${prefix}.`;
  return {
    prefix,
    topic: (logical) => `${p}${logical}`,
    logical: (physical) => (p !== '' && physical.startsWith(p) ? physical.slice(p.length) : physical),
  };
}

/** The nodes with every sink's topic renamed. */
function renameSinks(nodes: readonly Node[], rename: (name: string) => string): Node[] {
  return nodes.map((n): Node => {
    const children = renameSinks(n.children, rename);
    if (n.kind === 'sink') return { ...n, topic: { ...n.topic, name: rename(n.topic.name) }, children };
    if (n.kind === 'branch') return { ...n, branches: new Map([...n.branches].map(([k, b]) => [k, renameSinks(b, rename)])), children };
    return { ...n, children };
  });
}

/** The topology with every topic and its consumer group moved into the namespace. */
export function inNamespace<D>(t: Topology<D>, ns: TopicNamespace): Topology<D> {
  if (ns.prefix === '') return t;
  return {
    ...t,
    source: { ...t.source, topic: { ...t.source.topic, name: ns.topic(t.source.topic.name) }, group: ns.topic(t.source.group) },
    nodes: renameSinks(t.nodes, ns.topic),
    deadLetterTopic: ns.topic(t.deadLetterTopic),
  };
}
