/**
 * The near-duplicate replica scenario (tests/topology/lake/near-duplicate-scenario.ts) on real
 * servers: two curate replicas, each with its own Kafka client and its own MongoDB-wire (FerretDB)
 * catalog connection, in one consumer group on a two-partition topic. Every run gets fresh topics
 * (a topic prefix) and a fresh database. Objects stay on a temp filesystem store: the shared
 * state under test is the catalog's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { curateTopology } from '../../../topologies/curate.ts';
import { createKafkaLog, type KafkaEventLog } from '../../../runtime/log/kafka-log.ts';
import { dropMongoCatalogDatabase, openMongoCatalog } from '../../../runtime/catalog/mongo-catalog.ts';
import type { Catalog } from '../../../runtime/catalog/catalog.ts';
import { openFsObjectStore } from '../../../runtime/lake/fs-object-store.ts';
import { topicNamespace } from '../../../runtime/engine/namespace.ts';
import { avroSerdePort } from '../../../runtime/engine/avro-serde-port.ts';
import { AvroSerde } from '../../../runtime/serde/avro-serde.ts';
import { EmbeddedSchemaRegistry } from '../../../runtime/serde/embedded-schema-registry.ts';
import { lakeDepsOf } from '../../topology/lake/harness.ts';
import {
  assertPartitionsSplit,
  assertSameSurvivors,
  curatedIn,
  plantNearDuplicates,
  plantNormalized,
  recordJudged,
  runScenario,
  type PlantedScenario,
} from '../../topology/lake/near-duplicate-scenario.ts';
import { eventually, mustEnv, skipUnless, uniqueName } from '../services/service-env.ts';

const skip = skipUnless('CF_KAFKA_BROKERS', 'CF_MONGO_URL');

/** Run the scenario with `instances` curate replicas on fresh topics and a fresh database; the curated images and every image's status. */
async function curateWith(
  instances: number,
  scenario: PlantedScenario,
): Promise<{ curated: string[]; status: Map<string, string> }> {
  const name = uniqueName('it-near-dup');
  const ns = topicNamespace(name);
  const brokers = mustEnv('CF_KAFKA_BROKERS').split(',');
  const mongoUrl = mustEnv('CF_MONGO_URL');
  const dbName = name.replace(/-/g, '_');
  const dir = mkdtempSync(join(tmpdir(), 'cf-near-dup-'));
  const objects = await openFsObjectStore({ root: join(dir, 'lake'), durable: false });
  const logs: KafkaEventLog[] = [];
  const catalogs: Catalog[] = [];
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
  try {
    for (let i = 0; i < instances; i++) {
      logs.push(createKafkaLog({ brokers, clientId: `${name}-${i}` }));
      catalogs.push(await openMongoCatalog({ url: mongoUrl, dbName }));
    }
    await plantNormalized(objects, catalogs[0]!, scenario);
    const group = ns.topic(curateTopology.source.group);
    await admin.connect();
    const services = catalogs.map((catalog) => lakeDepsOf(objects, catalog));
    const judgedBy = services.map(recordJudged);
    await runScenario(
      {
        log: logs[0]!,
        logOf: (i) => logs[i]!,
        serde: avroSerdePort(new AvroSerde(new EmbeddedSchemaRegistry({ path: ':memory:' })), ns.logical),
        ns,
        instances: services,
        // Records go out only once every replica holds a partition, so the split is the group's.
        joined: () =>
          eventually(async () => {
            const [described] = (await admin.describeGroups([group])).groups;
            assert.equal(described?.state, 'Stable');
            assert.equal(described?.members.filter((m) => m.memberAssignment.length > 0).length, instances);
          }, 60_000),
      },
      scenario,
    );
    assertPartitionsSplit(judgedBy, scenario);
    const records = await catalogs[0]!.images.getMany([...scenario.pairs.flat(), ...scenario.singles]);
    return {
      curated: await curatedIn(catalogs[0]!, scenario),
      status: new Map(records.map((r) => [r.id, r.status])),
    };
  } finally {
    await admin.disconnect();
    for (const log of logs) await log.close();
    for (const catalog of catalogs) await catalog.close();
    await objects.close();
    await dropMongoCatalogDatabase(mongoUrl, dbName).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

test(
  'on Kafka + FerretDB, two curate replicas catch every near-duplicate pair split across partitions and keep the survivors one replica keeps',
  { skip, timeout: 300_000 },
  async () => {
    const scenario = await plantNearDuplicates();
    const one = await curateWith(1, scenario);
    const two = await curateWith(2, scenario);
    assertSameSurvivors(
      scenario,
      { label: 'one replica', statusOf: (id) => one.status.get(id), curated: one.curated },
      { label: 'two replicas', statusOf: (id) => two.status.get(id), curated: two.curated },
    );
  },
);
