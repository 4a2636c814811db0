import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageCurated } from '../../../schemas/generated/types.ts';
import { Topics } from '../../../schemas/topics.ts';
import { createMemoryLog } from '../../../runtime/log/memory-log.ts';
import { topicNamespace } from '../../../runtime/engine/namespace.ts';
import { tempLake } from './harness.ts';
import {
  assertPartitionsSplit,
  recordJudged,
  assertSameSurvivors,
  curatedIn,
  plantNearDuplicates,
  plantNormalized,
  runScenario,
  type PlantedScenario,
} from './near-duplicate-scenario.ts';

/** Run the scenario on a fresh lake with `instances` curate instances; the curated images and the image.curated records. */
async function curateWith(
  instances: number,
  scenario: PlantedScenario,
): Promise<{
  curated: string[];
  events: ImageCurated[];
  catalog: Map<string, { status: string; reason: string | null }>;
}> {
  const lake = await tempLake();
  const log = createMemoryLog({ defaultPartitions: 2, pollIntervalMs: 5 });
  try {
    await plantNormalized(lake.deps.objects, lake.deps.catalog, scenario);
    const services = [lake.deps];
    while (services.length < instances) services.push(await lake.replica());
    const judgedBy = services.map(recordJudged);
    await runScenario({ log, serde: lake.serde, ns: topicNamespace(''), instances: services }, scenario);
    assertPartitionsSplit(judgedBy, scenario);
    const events = await Promise.all(
      log
        .readAll(Topics.imageCurated.name)
        .map(
          async (r) => (await lake.serde.decode(Topics.imageCurated.name, r.value!)).value as ImageCurated,
        ),
    );
    const records = await lake.deps.catalog.images.getMany([
      ...scenario.pairs.flat(),
      ...scenario.singles,
    ]);
    return {
      curated: await curatedIn(lake.deps.catalog, scenario),
      events,
      catalog: new Map(records.map((r) => [r.id, { status: r.status, reason: r.reason }])),
    };
  } finally {
    await log.close();
    await lake.close();
  }
}

test('two curate instances on two partitions catch every planted near-duplicate pair and keep exactly the survivors one instance keeps', async () => {
  const scenario = await plantNearDuplicates();
  const one = await curateWith(1, scenario);
  const two = await curateWith(2, scenario);

  assertSameSurvivors(
    scenario,
    { label: 'one instance', statusOf: (id) => one.catalog.get(id)?.status, curated: one.curated },
    { label: 'two instances', statusOf: (id) => two.catalog.get(id)?.status, curated: two.curated },
  );
  for (const run of [one, two]) {
    for (const id of scenario.pairs.flat()) {
      if (run.curated.includes(id)) continue;
      const r = run.catalog.get(id);
      assert.ok(r?.status === 'duplicate' || r?.status === 'rejected', `${id.slice(0, 8)} is not in gold`);
    }
    // Phase 1's survivors that an earlier image displaced were demoted, with an event saying so.
    for (const [earlier, later] of scenario.pairs.slice(0, 3)) {
      assert.equal(run.catalog.get(later)?.status, 'duplicate');
      assert.match(run.catalog.get(later)?.reason ?? '', new RegExp(`^DUPLICATE_OF:${earlier}`));
      const demotion = run.events.find(
        (e) => e.imageId === later && e.dedup.duplicateOf === earlier && e.goldImage === null,
      );
      assert.ok(demotion !== undefined, `an image.curated record demotes ${later.slice(0, 8)}`);
    }
  }
});
