/**
 * The near-duplicate replica scenario, shared by the embedded test (memory log, SQLite) and the
 * distributed one (Kafka, FerretDB): planted near-duplicate pairs whose members are keyed onto
 * different partitions, judged by one or by two curate instances in one consumer group.
 *
 * The pairs are real images (a scene and a re-encoded JPEG copy of it) normalized once; their
 * ingest times are then planted so that the rule, not the order, decides: in some pairs the copy
 * was ingested first, in others the original; in one the earlier image fails the quality gate.
 * Phase 1 sends the later-ingested members of half the pairs (they look like originals when
 * judged, and must be demoted later); phase 2 sends their earlier members and both members of
 * the other pairs at once, one member on each partition (the race).
 */
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { ImageNormalized } from '../../../schemas/generated/types.ts';
import { Topics } from '../../../schemas/topics.ts';
import type { EventLog, Serde } from '../../../runtime/ports.ts';
import type { Catalog } from '../../../runtime/catalog/catalog.ts';
import type { ObjectStore } from '../../../runtime/lake/object-store.ts';
import { TopologyTestDriver } from '../../../runtime/engine/test-driver.ts';
import { runTopology } from '../../../runtime/engine/runner.ts';
import { inNamespace, type TopicNamespace } from '../../../runtime/engine/namespace.ts';
import { waitForCatchUp } from '../../../runtime/engine/lag.ts';
import { InlinePool } from '../../../runtime/workers/piscina-pool.ts';
import { systemClock } from '../../../runtime/clock.ts';
import { generateScene } from '../../../processors/synthetic/index.ts';
import { normalizeTopology } from '../../../topologies/normalize.ts';
import { curateTopology } from '../../../topologies/curate.ts';
import { ingestImage } from '../../../topologies/ingest.ts';
import { catalogLineage, catalogRef, type LakeDeps } from '../../../topologies/lake-services.ts';
import { tempLake } from './harness.ts';

/** A record to send and the partition it goes to. */
export interface Planted {
  readonly n: ImageNormalized;
  readonly partition: number;
}

/** The planted images. */
export interface PlantedScenario {
  /** Phases to send in order (each fully processed before the next). */
  readonly phases: readonly (readonly Planted[])[];
  /** [earlier, later] image ids of every planted pair (earlier by the planted ingest time). */
  readonly pairs: readonly (readonly [string, string])[];
  /** Images that have no near-duplicate. */
  readonly singles: readonly string[];
  /** The survivors the rule names (earliest gate-passing member of each pair, and the singles). */
  readonly expectedSurvivors: readonly string[];
  /** Silver objects the records point at: copy them into the lake under test. */
  readonly silver: ReadonlyMap<string, Uint8Array>;
}

const PAIRS = 6;
const SINGLES = 2;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

/** Ingest and normalize the scenes on a scratch lake; plant ingest times, gate failures and partitions. */
export async function plantNearDuplicates(): Promise<PlantedScenario> {
  const lake = await tempLake();
  const pool = new InlinePool();
  const normalize = new TopologyTestDriver(normalizeTopology, {
    deps: lake.deps,
    serde: lake.serde,
    pool,
  });
  try {
    await normalize.start();
    const deps = {
      objects: lake.deps.objects,
      bucket: 'lake',
      producer: await normalize.log.producer(),
      serde: lake.serde,
      clock: systemClock,
      maxBytes: 10_000_000,
    };
    const scenes = await Promise.all(
      Array.from({ length: PAIRS + SINGLES }, (_, i) => generateScene(100 + i, { size: 128 })),
    );
    const ids: { original: string; copy: string | null }[] = [];
    for (const [i, s] of scenes.entries()) {
      const original = await ingestImage(deps, {
        bytes: s.image,
        source: 'bulk',
        producer: 'test',
        externalId: s.id,
        captions: s.captions.map((text) => ({ text })),
      });
      let copy: string | null = null;
      if (i < PAIRS) {
        const bytes = await sharp(s.image).jpeg({ quality: 80 }).toBuffer();
        copy = (
          await ingestImage(deps, {
            bytes,
            source: 'upload',
            producer: 'test',
            captions: [{ text: `a copy of ${s.id}` }],
          })
        ).event.imageId;
      }
      ids.push({ original: original.event.imageId, copy });
    }
    await normalize.settle();
    const byId = new Map(
      (await normalize.read<ImageNormalized>(Topics.imageNormalized.name)).map((r) => [
        r.value.imageId,
        r.value,
      ]),
    );
    const silver = new Map<string, Uint8Array>();
    for (const n of byId.values())
      for (const ref of [n.modelInput, n.thumbnail])
        silver.set(ref.key, await lake.deps.objects.get(ref.key));

    let clock = 0;
    const at = (n: ImageNormalized, options: { failGate?: boolean } = {}): ImageNormalized => {
      const t = T0 + 1000 * clock++;
      return {
        ...n,
        normalizedAt: t + 500,
        quality: options.failGate === true ? { ...n.quality, blur: 0 } : n.quality,
        lineage: { ...n.lineage, hops: n.lineage.hops.map((h) => ({ ...h, at: t })) },
      };
    };
    const phase1: Planted[] = [];
    const phase2: Planted[] = [];
    const pairs: [string, string][] = [];
    const expectedSurvivors: string[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const { original, copy } = ids[i]!;
      // The copy comes first in even pairs, the original in odd ones.
      const [earlierId, laterId] = i % 2 === 0 ? [copy!, original] : [original, copy!];
      const failGate = i === PAIRS - 1;
      const earlier = at(byId.get(earlierId)!, { failGate });
      const later = at(byId.get(laterId)!);
      pairs.push([earlierId, laterId]);
      // A rejected image must not shadow its good copy: then the later one survives.
      expectedSurvivors.push(failGate ? laterId : earlierId);
      const [pe, pl] = i % 2 === 0 ? [0, 1] : [1, 0];
      if (i < PAIRS / 2) {
        phase1.push({ n: later, partition: pl });
        phase2.push({ n: earlier, partition: pe });
      } else {
        phase2.push({ n: earlier, partition: pe }, { n: later, partition: pl });
      }
    }
    const singles = ids.slice(PAIRS).map((x) => x.original);
    for (const [i, id] of singles.entries()) phase1.push({ n: at(byId.get(id)!), partition: i % 2 });
    expectedSurvivors.push(...singles);
    return { phases: [phase1, phase2], pairs, singles, expectedSurvivors: expectedSurvivors.sort(), silver };
  } finally {
    await normalize.close();
    await lake.close();
  }
}

/** Put the scenario into a lake as normalize leaves it: the silver objects and the images' catalog records. */
export async function plantNormalized(
  objects: ObjectStore,
  catalog: Catalog,
  scenario: PlantedScenario,
): Promise<void> {
  for (const [key, bytes] of scenario.silver) await objects.put(key, bytes);
  for (const { n } of scenario.phases.flat()) {
    await catalog.images.upsert({
      id: n.imageId,
      source: n.lineage.source,
      layer: 'silver',
      status: 'normalized',
      objects: { silver: catalogRef(n.modelInput) },
      width: n.width,
      height: n.height,
      format: n.format,
      dhash: n.dHash,
      phash: n.pHash,
      lineage: catalogLineage(n.lineage),
    });
  }
}

/** Where to run curate. */
export interface CurateRun {
  readonly log: EventLog;
  readonly serde: Serde;
  readonly ns: TopicNamespace;
  /** One entry per curate instance (each its own judge, and its own catalog connection where it can). */
  readonly instances: readonly LakeDeps[];
  /** The log client of instance `i` (default `log`): on Kafka each replica has its own. */
  readonly logOf?: (instance: number) => EventLog;
  /** Resolves once every instance holds partitions (Kafka assigns them asynchronously). */
  readonly joined?: () => Promise<void>;
}

/** Run the scenario through `instances.length` curate instances in one group; returns when all is processed. */
export async function runScenario(run: CurateRun, scenario: PlantedScenario): Promise<void> {
  const { log, serde, ns } = run;
  const source = ns.topic(Topics.imageNormalized.name);
  await log.ensureTopics([{ name: source, partitions: 2 }]);
  const topology = inNamespace(curateTopology, ns);
  const running = [];
  for (const [i, deps] of run.instances.entries())
    running.push(await runTopology(topology, { log: run.logOf?.(i) ?? log, serde, deps }));
  try {
    await run.joined?.();
    const producer = await log.producer();
    try {
      for (const phase of scenario.phases) {
        await producer.send(
          await Promise.all(
            phase.map(async (p) => ({
              topic: source,
              key: p.n.imageId,
              partition: p.partition,
              value: await serde.encode(source, p.n),
            })),
          ),
        );
        await waitForCatchUp(log, [{ group: topology.source.group, topic: source }], {
          timeoutMs: 120_000,
          pollMs: 50,
          settleMs: 300,
        });
      }
    } finally {
      await producer.close();
    }
  } finally {
    await Promise.all(running.map((r) => r.stop({ deadlineMs: 10_000 })));
  }
}

/** The images of the scenario the catalog holds as curated, sorted. */
export async function curatedIn(catalog: Catalog, scenario: PlantedScenario): Promise<string[]> {
  const all = [...scenario.pairs.flat(), ...scenario.singles];
  return (await catalog.images.getMany(all))
    .filter((i) => i.status === 'curated')
    .map((i) => i.id)
    .sort();
}

/** Record which images an instance's judge sees (wraps `deps.dedup.judge`). */
export function recordJudged(deps: LakeDeps): string[] {
  const ids: string[] = [];
  const judge = deps.dedup.judge.bind(deps.dedup);
  deps.dedup.judge = (n, gate) => {
    ids.push(n.imageId);
    return judge(n, gate);
  };
  return ids;
}

/** Every instance judged something; with several, each judged the records of one partition only. */
export function assertPartitionsSplit(
  judgedBy: readonly (readonly string[])[],
  scenario: PlantedScenario,
): void {
  const partitionOf = new Map(scenario.phases.flat().map((p) => [p.n.imageId, p.partition]));
  const owned = new Set<number>();
  for (const [i, ids] of judgedBy.entries()) {
    assert.ok(ids.length > 0, `instance ${i} judged records`);
    const partitions = new Set(ids.map((id) => partitionOf.get(id)!));
    if (judgedBy.length > 1)
      assert.equal(partitions.size, 1, `instance ${i} judged records of one partition only`);
    for (const p of partitions) owned.add(p);
  }
  assert.equal(owned.size, 2, 'both partitions were judged');
}

/**
 * What both replica tests assert: with one curate instance and with two, every planted pair
 * keeps exactly one survivor; one instance keeps the survivors the rule names, two keep the same.
 */
export function assertSameSurvivors(
  scenario: PlantedScenario,
  one: { readonly label: string; readonly statusOf: (id: string) => string | undefined; readonly curated: readonly string[] },
  two: { readonly label: string; readonly statusOf: (id: string) => string | undefined; readonly curated: readonly string[] },
): void {
  for (const run of [one, two]) {
    for (const [earlier, later] of scenario.pairs) {
      const statuses = [run.statusOf(earlier), run.statusOf(later)];
      assert.equal(
        statuses.filter((s) => s === 'curated').length,
        1,
        `${run.label}, pair ${earlier.slice(0, 8)}/${later.slice(0, 8)}: exactly one survivor (${statuses.join(', ')})`,
      );
    }
  }
  assert.deepEqual(one.curated, scenario.expectedSurvivors, `${one.label}: the earliest gate-passing member of each pair survives`);
  assert.deepEqual(two.curated, one.curated, `${two.label}: the same survivors`);
}
