/**
 * The one place that lists the whole pipeline: every door, topic, topology (with its effects and
 * state stores) and job. `captionflow describe` prints it, the README embeds its Mermaid graph
 * (kept in sync by a test), and `captionflow run` starts the topologies it lists, each on the
 * dependencies the app wires for it.
 */
import type { Pipeline } from '../runtime/engine/pipeline.ts';
import type { Topology } from '../runtime/engine/topology.ts';
import { runTopology, type RunningTopology } from '../runtime/engine/runner.ts';
import { inNamespace } from '../runtime/engine/namespace.ts';
import { normalizeTopology } from '../topologies/normalize.ts';
import { curateTopology } from '../topologies/curate.ts';
import { labelBacklogTopology, labelTopology } from '../topologies/label.ts';
import { deadLetterIndexTopology } from '../topologies/dead-letters.ts';
import { doors } from '../services/doors.ts';
import { modelDoors } from './models/model-doors.ts';
import { standardJobDeclarations } from './jobs/standard-jobs.ts';
import type { App } from './app.ts';

/** A topology of the pipeline with how to start it on an app. */
interface Runnable {
  readonly topology: Topology<never>;
  readonly runsByDefault: boolean;
  readonly start: (app: App) => Promise<RunningTopology>;
}

/** A topology started on the app's adapters, in its topic namespace, with the dependencies `deps` picks. */
function runnable<D>(topology: Topology<D>, deps: (app: App) => D, runsByDefault = true): Runnable {
  return {
    topology,
    runsByDefault,
    start: (app) =>
      runTopology(inNamespace(topology, app.topics), { log: app.log, serde: app.serde, logger: app.logger, metrics: app.metrics, pool: app.pool, clock: app.clock, deps: deps(app) }),
  };
}

/** The lake topologies, in the order data flows through them. */
export const topologies: readonly Runnable[] = [
  runnable(normalizeTopology, (app) => app.lake),
  runnable(curateTopology, (app) => app.lake),
  runnable(labelTopology, (app) => app.label),
  runnable(labelBacklogTopology, (app) => app.label),
  runnable(deadLetterIndexTopology, (app) => ({ catalog: app.catalog })),
];

/** captionflow's pipeline. */
export const pipeline: Pipeline = {
  doors: [...doors, ...modelDoors],
  topologies: topologies.map(({ topology, runsByDefault }) => ({ topology, runsByDefault })),
  jobs: Object.values(standardJobDeclarations),
};

/** Start the topologies that run by default (or those named) on the app's adapters. */
export async function startTopologies(app: App, names?: readonly string[]): Promise<RunningTopology[]> {
  const unknown = (names ?? []).filter((n) => !topologies.some((t) => t.topology.name === n));
  if (unknown.length > 0) throw new TypeError(`unknown topology ${unknown.join(', ')}; known: ${topologies.map((t) => t.topology.name).join(', ')}`);
  const selected = topologies.filter((t) => (names === undefined ? t.runsByDefault : names.includes(t.topology.name)));
  const running: RunningTopology[] = [];
  try {
    for (const t of selected) running.push(await t.start(app));
  } catch (err) {
    await Promise.all(running.map((r) => r.stop({ deadlineMs: 1_000 })));
    throw err;
  }
  return running;
}
