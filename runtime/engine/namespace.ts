import type { Services, Topology } from './topology.ts';

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

/** The topology with every topic and its consumer group moved into the namespace. */
export function inNamespace<S extends Services>(t: Topology<S>, ns: TopicNamespace): Topology<S> {
  if (ns.prefix === '') return t;
  const sinks = t.sinks.map((s) => (s.kind === 'topic' ? ({ ...s, topic: { ...s.topic, name: ns.topic(s.topic.name) } }) : s));
  return {
    ...t,
    source: { ...t.source, topic: { ...t.source.topic, name: ns.topic(t.source.topic.name) }, group: ns.topic(t.source.group) },
    sinks,
    deadLetterTopic: ns.topic(t.deadLetterTopic),
  };
}
