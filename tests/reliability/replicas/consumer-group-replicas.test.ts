/**
 * `captionflow run` replicas as one consumer group on the real servers (Kafka, the schema
 * registry, the S3 server, FerretDB for the MongoDB wire), as `docker compose up --scale` runs
 * them, but as plain processes: three replicas over a stream of images on six partitions, one of
 * them SIGKILLed mid-run and restarted, a fourth added mid-run. The images include planted
 * near-duplicate pairs (a scene and a re-encoded JPEG copy, ingested far apart so the pair spans
 * the kill and the rebalances) and poison (truncated JPEGs that pass the door and dead-letter in
 * normalize). The retrain trigger (N new curated items, the tiny trainer preset) is set to fire
 * once during the run.
 *
 * Afterwards: every input is curated into gold exactly once or has its recorded reason
 * (duplicate, rejected, dead letter); every planted pair is caught; every catalog reference is in
 * the lake and no lake object is unreferenced (bronze objects only for dead letters); exactly one
 * retrain ran across the replicas (job history in the catalog).
 *
 * Size: CAPTIONFLOW_REPLICA_IMAGES (default 400, 150 under CI=true; the issue's full run is 2000:
 * 641 s on the 2-core test machine with FerretDB on PostgreSQL, a soak running beside it).
 * Every run gets a fresh topic prefix, bucket and database.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadConfig } from '../../../runtime/config.ts';
import { openApp, type App } from '../../../app/app.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { groupLag, waitForCatchUp } from '../../../runtime/engine/lag.ts';
import { checkConsistency } from '../../../runtime/lake/consistency.ts';
import { dropMongoCatalogDatabase } from '../../../runtime/catalog/mongo-catalog.ts';
import type { ImageRecord } from '../../../runtime/catalog/catalog.ts';
import { ingestDeps } from '../../../app/pipeline-job.ts';
import { ingestImage } from '../../../topologies/ingest.ts';
import { generateScenes } from '../../../processors/synthetic/index.ts';
import { normalizeImage } from '../../../processors/image/normalize.ts';
import { resolveNormalizeOptions } from '../../../processors/image/normalize-options.ts';
import { QualityGateOptionsSchema, qualityGate } from '../../../processors/curate/quality-gate.ts';
import { hammingDistance } from '../../../processors/image/phash.ts';
import { deferrer } from '../../fixtures/defer.ts';
import { freePort, outputTail } from '../../fixtures/child-process.ts';
import { distributedEnv, eventually, mustEnv, skipUnless, uniqueName } from '../../integration/services/service-env.ts';

const REPO_ROOT = new URL('../../../', import.meta.url).pathname;
const IMAGES = Number.parseInt(process.env.CAPTIONFLOW_REPLICA_IMAGES ?? (process.env.CI === 'true' ? '150' : '400'), 10);
const PAIRS = Math.max(6, Math.round(IMAGES / 100));
const POISON = Math.max(3, Math.round(IMAGES / 200));
const SCENES = IMAGES - PAIRS - POISON;
const PARTITIONS = 6;
const MINUTE = 60_000;
/** Waits scale with the run's size: a minute per 50 images for a stage, a minute per 20 for the whole test. */
const STAGE_TIMEOUT = Math.max(15, IMAGES / 50) * MINUTE;

const skip = skipUnless('CF_KAFKA_BROKERS', 'CF_SCHEMA_REGISTRY_URL', 'CF_S3_ENDPOINT', 'CF_MONGO_URL');

/** A planted pair's copy: the scene re-encoded as JPEG. */
function copyOf(image: Uint8Array): Promise<Buffer> {
  return sharp(image).jpeg({ quality: 80 }).toBuffer();
}

/**
 * The copy that plants a pair with this scene, or null when the scene cannot start one: the
 * quality gate must pass it (with the application's defaults, as curate would), and its copy's
 * perceptual hash must be within the near-duplicate radius of its own. About 1 % of the synthetic
 * scenes' JPEG copies move their pHash by 8–14 bits; such a pair is beyond what the detector
 * promises to catch, so it would test the hash, not the replicas.
 */
async function plantedCopy(image: Uint8Array, radius: number): Promise<Buffer | null> {
  const options = resolveNormalizeOptions({});
  const copy = await copyOf(image);
  const [original, copied] = await Promise.all([normalizeImage(image, options), normalizeImage(copy, options)]);
  const q = original.quality;
  const input = { width: q.width, height: q.height, blur: q.blurVariance, brightness: q.brightness, contrast: q.contrast };
  const plantable =
    qualityGate(input, QualityGateOptionsSchema.parse({})).passed &&
    hammingDistance(original.perceptual.pHash, copied.perceptual.pHash) <= radius;
  return plantable ? copy : null;
}

/** One `captionflow run` process. */
interface Replica {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  readonly tail: () => string;
  readonly exited: Promise<number | null>;
}

/** An input the test ingested, and what it must end as. */
interface Input {
  readonly id: string;
  readonly kind: 'scene' | 'copy' | 'poison';
}

test(
  `three captionflow run replicas on Kafka + registry + S3 + FerretDB, ${IMAGES} images on ${PARTITIONS} partitions, one SIGKILLed and restarted, a fourth added: every input in gold once or with its reason, every planted pair caught, catalog = lake, one retrain`,
  { skip, timeout: Math.max(40, IMAGES / 20) * MINUTE },
  async (t) => {
    const defer = deferrer(t);
    const started = Date.now();
    const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(0)}s`;
    // A run of many minutes: progress on stderr as it happens, and in the TAP diagnostics after.
    const say = (line: string): void => {
      t.diagnostic(line);
      process.stderr.write(`# replicas: ${line}\n`);
    };
    const name = uniqueName('rel-replicas');
    const dirs = mkdtempSync(join(tmpdir(), 'cf-replicas-'));
    defer(() => rmSync(dirs, { recursive: true, force: true }));
    // Expected gold: scenes (a few may collide by content or look alike) and one of each pair.
    const retrainAfter = Math.round(SCENES * 0.6);
    const env = distributedEnv(name, {
      CAPTIONFLOW_LOG_PARTITIONS: String(PARTITIONS),
      CAPTIONFLOW_WORKERS: '1',
      CAPTIONFLOW_LOG_LEVEL: 'warn',
      CAPTIONFLOW_LOG_FORMAT: 'json',
      CAPTIONFLOW_RETRAIN_CONFIG: 'tiny',
      CAPTIONFLOW_RETRAIN_MIN_NEW_ITEMS: String(retrainAfter),
      CAPTIONFLOW_RETRAIN_CHECK_MS: '2000',
      // Keep the other scheduled jobs out of the run (hourly snapshot, six-hourly consistency).
      CAPTIONFLOW_SNAPSHOT_CRON: '0 0 1 1 *',
    });
    const defined = (e: Record<string, string | undefined>): Record<string, string> =>
      Object.fromEntries(Object.entries(e).filter((kv): kv is [string, string] => kv[1] !== undefined));

    // The test's own app: creates the topics (six partitions), ingests, and checks the lake after.
    const app: App = await openApp(loadConfig({ env: { ...env, CAPTIONFLOW_DATA_DIR: join(dirs, 'test') } }), { logger: silentLogger });
    defer(async () => {
      await app.close();
      await dropMongoCatalogDatabase(mustEnv('CF_MONGO_URL'), app.config.mongo.database).catch(() => undefined);
    });
    // Fresh topics: the broker may name a partition's leader a moment after creating it.
    await eventually(async () => assert.equal((await app.log.endOffsets(app.topics.topic('image.ingested'))).size, PARTITIONS), MINUTE);

    say(`${elapsed()} topics ready (${PARTITIONS} partitions)`);
    const replicas: Replica[] = [];
    const start = async (label: string): Promise<Replica> => {
      const port = await freePort();
      const child = spawn(process.execPath, ['--import', 'tsx', 'app/cli/main.ts', 'run'], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          ...defined(env),
          CAPTIONFLOW_DATA_DIR: join(dirs, label),
          CAPTIONFLOW_HTTP_PORT: String(port),
          CAPTIONFLOW_KAFKA_CLIENT_ID: `${name}-${label}`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const replica: Replica = {
        name: label,
        child,
        url: `http://127.0.0.1:${port}`,
        tail: outputTail(child),
        exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
      };
      replicas.push(replica);
      defer(() => (child.exitCode === null && child.signalCode === null ? void child.kill('SIGKILL') : undefined));
      await eventually(async () => {
        if (child.exitCode !== null) assert.fail(`replica ${label} exited (${child.exitCode}):\n${replica.tail()}`);
        const res = await fetch(`${replica.url}/readyz`);
        assert.equal(res.status, 200);
      }, 10 * MINUTE, 500);
      say(`${elapsed()} replica ${label} ready (pid ${child.pid})`);
      return replica;
    };
    const live = (): Replica[] => replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);

    const curatedCount = async (): Promise<number> => (await app.catalog.images.countBy('status')).curated ?? 0;
    const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = STAGE_TIMEOUT): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        // A replica that died on its own (not the one the test killed) fails the run at once.
        const dead = replicas.filter((r) => r.child.exitCode !== null && r.child.exitCode !== 0 && r.child.signalCode === null);
        if (dead.length > 0) assert.fail(`replica ${dead[0]!.name} exited with ${dead[0]!.child.exitCode}:\n${dead[0]!.tail()}`);
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };

    // Three replicas in one group (the default group names under the run's prefix).
    await Promise.all(['r1', 'r2', 'r3'].map((label) => start(label)));

    // The inputs, ingested in three slices; pair copies come a slice after their originals.
    const producer = await app.log.producer();
    defer(() => producer.close());
    const deps = ingestDeps(app, producer);
    const inputs: Input[] = [];
    const pairs: [string, string][] = [];
    const originals: { id: string; copy: Buffer; sceneId: string }[] = [];
    const ingestScene = async (bytes: Uint8Array, source: 'bulk' | 'upload', externalId: string | undefined, captions: readonly string[]): Promise<string> =>
      (
        await ingestImage(deps, {
          bytes,
          source,
          producer: 'replicas-test',
          ...(externalId === undefined ? {} : { externalId }),
          captions: captions.map((text) => ({ text })),
        })
      ).event.imageId;
    const pairEvery = Math.floor(SCENES / PAIRS);
    const poisonEvery = Math.floor(SCENES / POISON);
    const slice = Math.ceil(SCENES / 3);
    let sent = 0;
    let pendingCopies: typeof originals = [];
    const scenes = generateScenes({ seed: 314, count: SCENES, size: 128 });
    const ingestSlice = async (): Promise<void> => {
      // Copies of the previous slice's originals first: the pair's members are a slice apart.
      for (const o of pendingCopies) {
        const id = await ingestScene(o.copy, 'upload', undefined, [`a copy of ${o.sceneId}`]);
        inputs.push({ id, kind: 'copy' });
        pairs.push([o.id, id]);
      }
      pendingCopies = [];
      for (let i = 0; i < slice && sent < SCENES; i++, sent++) {
        const { value: s } = await scenes.next();
        if (s === undefined) break;
        const id = await ingestScene(s.image, 'bulk', s.id, s.captions);
        inputs.push({ id, kind: 'scene' });
        // A pair's original passes the quality gate (a pair rejected on quality before the
        // near-duplicate check would prove nothing) and its copy is within the radius.
        const copy =
          sent % pairEvery === 0 && originals.length < PAIRS
            ? await plantedCopy(s.image, app.config.processing.nearDuplicateDistance)
            : null;
        if (copy !== null) {
          originals.push({ id, copy, sceneId: s.id });
          pendingCopies.push({ id, copy, sceneId: s.id });
        }
        if (sent % poisonEvery === Math.floor(poisonEvery / 2) && inputs.filter((x) => x.kind === 'poison').length < POISON) {
          // A truncated JPEG passes the door's magic-number check and fails decoding in normalize.
          const jpeg = await sharp(s.image).jpeg({ quality: 90 }).toBuffer();
          const id = await ingestScene(jpeg.subarray(0, jpeg.length >> 1), 'upload', undefined, [`poison ${s.id}`]);
          inputs.push({ id, kind: 'poison' });
        }
      }
    };

    await ingestSlice();
    say(`${elapsed()} slice 1 ingested (${inputs.length} inputs)`);
    // SIGKILL r2 once curation is under way, and start it again.
    await waitFor('a quarter of slice 1 curated', async () => (await curatedCount()) >= slice / 4);
    const victim = replicas.find((r) => r.name === 'r2')!;
    const curatedAtKill = await curatedCount();
    victim.child.kill('SIGKILL');
    await victim.exited;
    say(`${elapsed()} r2 SIGKILLed with ${curatedAtKill} curated`);
    await start('r2-restarted');
    await ingestSlice();
    say(`${elapsed()} slice 2 ingested (${inputs.length} inputs)`);
    // A fourth replica joins while slice 2 is being processed.
    await waitFor('half of the inputs so far curated', async () => (await curatedCount()) >= inputs.length / 2);
    await start('r4');
    await ingestSlice();
    await ingestSlice(); // the last copies
    say(`${elapsed()} all ${inputs.length} inputs ingested (${PAIRS} pairs, ${POISON} poison)`);
    assert.equal(pairs.length, PAIRS);

    const groups = ['captionflow-normalize', 'captionflow-curate', 'captionflow-dead-letters'].map((g) => app.topics.topic(g));
    const topics = ['image.ingested', 'image.normalized', 'dead-letter'].map((x) => app.topics.topic(x));
    await waitForCatchUp(app.log, groups.map((group, i) => ({ group, topic: topics[i]! })), { timeoutMs: STAGE_TIMEOUT + 5 * MINUTE, settleMs: 3_000 });
    say(`${elapsed()} caught up; lag ${await groupLag(app.log, groups[1]!, topics[1]!)}`);

    // The retrain trigger fired during the run; wait for its run to end, then for more polls.
    await waitFor('the retrain run to finish', async () => {
      const runs = await app.catalog.jobRuns.listByName('retrain', 10);
      return runs.length > 0 && runs.every((r) => r.status !== 'running');
    }, 10 * MINUTE);
    await new Promise((r) => setTimeout(r, 8_000)); // four trigger polls on every replica
    for (const r of live()) r.child.kill('SIGTERM');
    const codes = await Promise.all(replicas.map((r) => r.exited));
    say(`${elapsed()} replicas stopped: ${replicas.map((r, i) => `${r.name}=${codes[i] ?? r.child.signalCode}`).join(' ')}`);
    for (const [i, r] of replicas.entries()) if (r !== victim) assert.equal(codes[i], 0, `replica ${r.name} drained and exited 0:\n${r.tail()}`);

    // Exactly one retrain across the replicas, and it finished.
    const runs = await app.catalog.jobRuns.listByName('retrain', 50);
    t.diagnostic(`retrain runs: ${runs.map((r) => `${r.id} ${r.status} by ${r.holder} (${r.triggerDetail}) ${JSON.stringify(r.result)}`).join('; ')}`);
    assert.equal(runs.length, 1, 'exactly one retrain run across the replicas');
    // Replicas firing the same trigger share one run id, so the history alone could hide two
    // replicas training at once: the trainer's scratch space shows which replicas really trained.
    const trainedIn = replicas.filter((r) => existsSync(join(dirs, r.name, 'training'))).map((r) => r.name);
    assert.equal(trainedIn.length, 1, `exactly one replica ran the trainer (${trainedIn.join(', ')})`);
    assert.equal(runs[0]!.status, 'succeeded', JSON.stringify(runs[0]!.error));
    assert.equal(runs[0]!.trigger, 'event');

    // Every input: curated into gold once, or its recorded reason.
    const ids = [...new Set(inputs.map((i) => i.id))];
    const records = new Map<string, ImageRecord>();
    for (let i = 0; i < ids.length; i += 500) for (const r of await app.catalog.images.getMany(ids.slice(i, i + 500))) records.set(r.id, r);
    const letters = await app.catalog.deadLetters.list({}, { limit: 1000 });
    const deadLettered = new Map(letters.items.map((l) => [l.imageKey, l]));
    // Problems are collected, not thrown one by one: a failure lists every input that went astray.
    const byOutcome: Record<string, number> = {};
    const problems: string[] = [];
    for (const input of inputs) {
      const r = records.get(input.id);
      const letter = deadLettered.get(input.id);
      const outcome = letter !== undefined ? `dead letter ${letter.errorCode}` : (r?.status ?? 'missing');
      byOutcome[`${input.kind}: ${outcome}`] = (byOutcome[`${input.kind}: ${outcome}`] ?? 0) + 1;
      if (input.kind === 'poison') {
        if (letter?.errorCode !== 'IMAGE_DECODE_FAILED') problems.push(`poison ${input.id} is not dead-lettered as IMAGE_DECODE_FAILED (${outcome})`);
        if (r?.status === 'curated') problems.push(`poison ${input.id} was curated`);
      } else if (letter !== undefined) {
        // The scenes and copies are good images: a dead letter here is a failure of the group.
        problems.push(`${input.kind} ${input.id} was dead-lettered by ${letter.topology}/${letter.step}: ${letter.errorCode} ${letter.errorMessage}`);
      } else if (r === undefined) {
        problems.push(`${input.kind} ${input.id} never reached the catalog`);
      } else if (r.status === 'curated') {
        if (r.objects.gold === undefined || r.reason !== null) problems.push(`curated ${r.id} lacks its gold object or has a reason`);
      } else if (r.status !== 'duplicate' && r.status !== 'rejected') {
        problems.push(`${input.kind} ${r.id} ended ${r.status}, with no dead letter: neither curated nor given a reason`);
      } else if (r.reason === null || r.reason === '') {
        problems.push(`${r.status} ${r.id} has no reason`);
      }
    }
    t.diagnostic(`inputs ${inputs.length} (${ids.length} distinct): ${JSON.stringify(byOutcome)}; dead letters ${letters.items.length}`);
    assert.deepEqual(problems, [], 'every input is in gold or has its recorded reason');
    const curated = [...records.values()].filter((r) => r.status === 'curated');
    const goldKeys = new Set(curated.map((r) => r.objects.gold!.key));
    assert.equal(goldKeys.size, curated.length, 'no two curated inputs share a gold object');
    assert.equal(await curatedCount(), curated.length, 'the catalog holds no curated image the test did not send');

    // Every planted pair: one member in gold, the other a duplicate of it.
    for (const [a, b] of pairs) {
      const [ra, rb] = [records.get(a)!, records.get(b)!];
      const statuses = [ra.status, rb.status].sort().join('+');
      assert.equal(statuses, 'curated+duplicate', `pair ${a.slice(0, 8)}/${b.slice(0, 8)}: ${ra.status}, ${rb.status}`);
      const [kept, dup] = ra.status === 'curated' ? [ra, rb] : [rb, ra];
      assert.match(dup.reason ?? '', new RegExp(`^DUPLICATE_OF:${kept.id}`), 'the duplicate names its survivor');
    }

    // Catalog = lake: every reference present, no object unreferenced; bronze only for dead letters.
    const report = await checkConsistency(app.objects, app.catalog, { orphanLayers: ['silver', 'gold', 'models', 'manifests'] });
    assert.deepEqual(report.missingObjects, [], 'every catalog reference is in the lake');
    assert.deepEqual(report.corruptObjects, []);
    assert.deepEqual(report.orphanObjects.map((o) => o.key), [], 'no orphan objects');
    const bronze = await checkConsistency(app.objects, app.catalog, { orphanLayers: ['bronze'] });
    const poison = new Set(inputs.filter((i) => i.kind === 'poison').map((i) => i.id));
    const strayBronze = bronze.orphanObjects.filter((o) => ![...poison].some((id) => o.key.includes(id)));
    assert.deepEqual(strayBronze.map((o) => o.key), [], 'bronze objects without a catalog row are the dead-lettered ones');
    say(`${elapsed()} lake: ${report.checked.objects} objects, ${report.checked.records} records, ${report.checked.references} references`);
  },
);
