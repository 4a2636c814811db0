import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempLake } from './harness.ts';
import { plantNearDuplicates, plantNormalized, type PlantedScenario } from './near-duplicate-scenario.ts';

const PASSED = { passed: true, reasons: [] };
let planted: Promise<PlantedScenario> | undefined;
const scenario = (): Promise<PlantedScenario> => (planted ??= plantNearDuplicates());

/** The normalized records of the scenario's first pair: [earlier, later]. */
async function firstPair() {
  const s = await scenario();
  const byId = new Map(s.phases.flat().map((p) => [p.n.imageId, p.n]));
  const [earlier, later] = s.pairs[0]!;
  return { s, earlier: byId.get(earlier)!, later: byId.get(later)! };
}

test('two judges on two instances judging a pair at the same moment: the earlier image survives, whichever runs first', async () => {
  const { s, earlier, later } = await firstPair();
  for (const order of [
    [earlier, later],
    [later, earlier],
  ]) {
    const lake = await tempLake();
    try {
      await plantNormalized(lake.deps.objects, lake.deps.catalog, s);
      const other = await lake.replica();
      const [a, b] = await Promise.all([
        lake.deps.dedup.judge(order[0]!, PASSED),
        other.dedup.judge(order[1]!, PASSED),
      ]);
      const all = [...a, ...b];
      // The later image is called a duplicate of the earlier one — by its own judgement or by a demotion.
      assert.ok(
        all.some((j) => j.n.imageId === later.imageId && j.duplicateOf?.id === earlier.imageId),
        'the later image is a duplicate of the earlier',
      );
      assert.ok(
        !all.some((j) => j.n.imageId === earlier.imageId && j.duplicateOf !== null),
        'the earlier image is nobody’s duplicate',
      );
      assert.equal((await lake.deps.dedup.supersededBy(later.imageId))?.by, earlier.imageId);
      assert.equal(await lake.deps.dedup.supersededBy(earlier.imageId), null);
      // A replay of both judgements writes nothing new and announces no second, different demotion.
      const replay = [
        ...(await other.dedup.judge(later, PASSED)),
        ...(await lake.deps.dedup.judge(earlier, PASSED)),
      ];
      assert.deepEqual(
        replay.map((j) => [j.n.imageId, j.duplicateOf?.id ?? null]),
        [
          [later.imageId, earlier.imageId],
          [earlier.imageId, null],
          [later.imageId, earlier.imageId],
        ],
      );
      assert.equal((await lake.deps.catalog.nearDuplicates.supersessionsOf(later.imageId)).length, 1);
    } finally {
      await lake.close();
    }
  }
});

test('a rejected image enters nothing: it cannot shadow its good copy judged after it', async () => {
  const { s, earlier, later } = await firstPair();
  const lake = await tempLake();
  try {
    await plantNormalized(lake.deps.objects, lake.deps.catalog, s);
    const rejected = await lake.deps.dedup.judge(earlier, { passed: false, reasons: ['BLURRY'] });
    assert.deepEqual(
      rejected.map((j) => j.duplicateOf),
      [null],
    );
    const good = await lake.deps.dedup.judge(later, PASSED);
    assert.deepEqual(
      good.map((j) => [j.n.imageId, j.duplicateOf]),
      [[later.imageId, null]],
    );
    // Judged after its good copy, the rejected image is that copy's duplicate (it still cannot survive).
    const again = await lake.deps.dedup.judge(earlier, { passed: false, reasons: ['BLURRY'] });
    assert.equal(again[0]?.duplicateOf?.id, later.imageId);
    assert.equal(await lake.deps.dedup.supersededBy(later.imageId), null);
  } finally {
    await lake.close();
  }
});

test("a demoted survivor's slower own catalog write does not set it back to curated", async () => {
  const { s, earlier, later } = await firstPair();
  const lake = await tempLake();
  try {
    await plantNormalized(lake.deps.objects, lake.deps.catalog, s);
    const { catalog, dedup } = lake.deps;
    const demoter = await lake.replica();
    // The later image was judged first and survived.
    assert.deepEqual(
      (await dedup.judge(later, PASSED)).map((j) => j.duplicateOf),
      [null],
    );
    let writes = 0;
    await dedup.writeSurvivor(later.imageId, async (supersession) => {
      writes++;
      if (writes === 1) {
        // The race: between reading "not superseded" and writing curated, the earlier image is
        // judged on another instance, which supersedes it and writes the demotion first.
        assert.equal(supersession, null);
        const judged = await demoter.dedup.judge(earlier, PASSED);
        const demotion = judged.find((j) => j.demotedBy === earlier.imageId);
        assert.equal(demotion?.n.imageId, later.imageId);
        await catalog.images.upsert({
          id: later.imageId,
          status: 'duplicate',
          reason: `DUPLICATE_OF:${earlier.imageId}`,
        });
      }
      await catalog.images.upsert({
        id: later.imageId,
        status: supersession === null ? 'curated' : 'duplicate',
        reason: supersession === null ? null : `DUPLICATE_OF:${supersession.by}`,
      });
    });
    assert.equal(writes, 2, 'the re-read after the write found the supersession and wrote again');
    const record = await catalog.images.get(later.imageId);
    assert.equal(record?.status, 'duplicate');
    assert.equal(record?.reason, `DUPLICATE_OF:${earlier.imageId}`);
  } finally {
    await lake.close();
  }
});
