/**
 * A passthrough topology on real Kafka against a bare kafkajs consume→produce loop, on the same
 * Avro-encoded image.ingested messages, in one run:
 *  (a) topology without Avro (bytes pass through) vs the bare loop: what the engine adds;
 *  (b) topology with the Avro serde vs the bare loop decoding and re-encoding the same Avro:
 *      the engine's cost when both sides do the same work (the target, >= 0.8);
 *  (c) topology with the Avro serde vs the bare loop copying bytes, next to its ceiling (the
 *      bare loop with Avro vs without): what a typed topology costs over a byte copier;
 *  (d) the same topologies on @platformatic/kafka instead of kafkajs (config kafka.client);
 *  (e) a Kafka Streams app (deploy/bench/kafka-streams, built once with Maven) on the same input,
 *      raw and with Avro decode + encode: captionflow / Kafka Streams;
 *  (f) the bare loop on @confluentinc/kafka-javascript (librdkafka; deploy/services/confluent-kafka.ts
 *      installs it once into the cache, building librdkafka from its npm tarball), measured as a
 *      client against kafkajs and @platformatic/kafka;
 *  (g) the same topologies on that client behind the EventLog port (kafka.client confluent).
 * Kafka comes from deploy/services (started here and stopped at the end unless it already ran;
 * `CF_KAFKA_BROKERS` uses a broker of your own). Topics and groups are throw-away and deleted.
 * Run: `npx tsx tests/bench/kafka-passthrough.ts [--rounds N]` (CAPTIONFLOW_BENCH_FULL=1 for 200 000 messages;
 * CAPTIONFLOW_BENCH_ONLY=topology-avro for one side only (ids: bare, topology, bare-avro, topology-avro,
 * platformatic, platformatic-avro, confluent, confluent-avro, confluent-topology, confluent-topology-avro, kstreams, kstreams-avro; CAPTIONFLOW_BENCH_KSTREAMS=0 leaves
 * Kafka Streams out, CAPTIONFLOW_BENCH_CONFLUENT=0 the librdkafka client), e.g. under `node --cpu-prof --import tsx`).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { ensureConfluentKafka, type ConfluentKafka } from '../../deploy/services/confluent-kafka.ts';
import { ensureKafkaStreamsApp, type KafkaStreamsApp } from '../../deploy/bench/kafka-streams.ts';
import { Kafka, logLevel, type Admin, type KafkaMessage } from 'kafkajs';
import { down, status, up } from '../../deploy/services/manager.ts';
import { KAFKA } from '../../deploy/services/versions.ts';
import { avroSerdePort } from '../../runtime/engine/avro-serde-port.ts';
import { runTopology } from '../../runtime/engine/runner.ts';
import { topic } from '../../runtime/engine/topology.ts';
import { topology } from '../../runtime/engine/builder.ts';
import { createKafkaLogWith, type KafkaClientName } from '../../runtime/log/kafka-client.ts';
import type { Serde } from '../../runtime/ports.ts';
import { AvroSerde } from '../../runtime/serde/avro-serde.ts';
import { EmbeddedSchemaRegistry } from '../../runtime/serde/embedded-schema-registry.ts';
import type { ImageIngested } from '../../schemas/generated/types.ts';
import { Topics } from '../../schemas/topics.ts';
import { benchIngested } from './events.ts';
import {
  FULL,
  Samples,
  formatSpread,
  peakRssMiB,
  ratios,
  report,
  roundsArg,
  spread,
  type Row,
} from './harness.ts';

const N = FULL ? 200_000 : 20_000;
const PARTITIONS = 3;
/** Records per engine batch, and per produce+commit of the bare loop. */
const BATCH = 500;
const ROUNDS = roundsArg(3);
const ID = randomUUID().slice(0, 8);
const INPUT = `bench-in-${ID}`;

/** One measured run: from the first record consumed until every output is in the topic. */
interface Run {
  readonly seconds: number;
  /** CPU seconds of this process (the broker's are not counted) over the whole run. */
  readonly cpu: number;
  readonly outputs: number;
}

async function brokers(): Promise<{ brokers: string[]; stop: () => Promise<void>; how: string }> {
  const own = process.env.CF_KAFKA_BROKERS;
  if (own !== undefined && own !== '')
    return { brokers: own.split(','), stop: () => Promise.resolve(), how: `CF_KAFKA_BROKERS=${own}` };
  // Whose broker it is goes by pid: one that ran before (or that someone else restarts meanwhile) is left alone.
  const kafkaPid = async (): Promise<number | undefined> =>
    (await status()).find((x) => x.name === 'kafka' && x.healthy)?.record?.pid;
  const before = await kafkaPid();
  try {
    const env = await up(['kafka']);
    const list = (env.CF_KAFKA_BROKERS ?? `127.0.0.1:${KAFKA.brokerPort}`).split(',');
    const ours = await kafkaPid();
    return ours === undefined || ours === before
      ? {
          brokers: list,
          stop: () => Promise.resolve(),
          how: 'deploy/services kafka (already running, left running)',
        }
      : {
          brokers: list,
          stop: async () => {
            if ((await kafkaPid()) === ours) await down({ names: ['kafka'] });
          },
          how: 'deploy/services kafka (started and stopped by this run)',
        };
  } catch (err) {
    // The port is taken by a broker another state folder started: use it, leave it alone.
    const list = [`127.0.0.1:${KAFKA.brokerPort}`];
    const admin = new Kafka({ brokers: list, logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
    try {
      await admin.connect();
      await admin.listTopics();
    } catch {
      throw err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    return {
      brokers: list,
      stop: () => Promise.resolve(),
      how: `a broker already on ${list[0]} (not ours, left running)`,
    };
  }
}

/** Bytes in, the same bytes out: the engine with no serde cost. */
const rawSerde: Serde = {
  decode: (_topic, bytes) => Promise.resolve({ schemaId: 0, value: bytes }),
  encode: (_topic, value) => Promise.resolve(value as Buffer),
};

async function outputCount(admin: Admin, topicName: string): Promise<number> {
  let n = 0;
  for (const o of await admin.fetchTopicOffsets(topicName)) n += Number(o.high);
  return n;
}

/** Wait until `topicName` holds `n` records; resolves with the time it was seen. */
async function waitForOutputs(
  admin: Admin,
  topicName: string,
  n: number,
): Promise<{ at: number; outputs: number }> {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    // A metadata hiccup (a partition's leader not known yet on a loaded broker) is retried.
    const outputs = await outputCount(admin, topicName).catch((err: unknown) => {
      if ((err as { retriable?: unknown }).retriable === true) return -1;
      throw err;
    });
    if (outputs >= n) return { at: performance.now(), outputs };
    if (Date.now() > deadline) throw new Error(`${topicName}: ${outputs} of ${n} records after 10 minutes`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A client's producer and consumer for one loop, and how that client subscribes and runs. */
interface LoopClient {
  readonly producer: ReturnType<Kafka['producer']>;
  readonly consumer: ReturnType<Kafka['consumer']>;
  /** Subscription options beyond the topic (kafkajs: fromBeginning; librdkafka: in its config). */
  readonly subscribe: { fromBeginning?: boolean };
  /** Run options beyond eachBatch (kafkajs: autoCommit off; librdkafka: in its config). */
  readonly run: { autoCommit?: boolean };
  /** Per-send options (kafkajs: acks; librdkafka: in its producer config). */
  readonly send: { acks?: number };
}

/**
 * The bare loop: a consumer's eachBatch, in chunks of BATCH, `sendBatch` of the chunk to the
 * output topic with the idempotent producer, then the chunk's offset committed — what the
 * engine does, without the engine. `avro` decodes and re-encodes every value on the way. The
 * same code runs on kafkajs and on librdkafka's KafkaJS-compatible API.
 */
async function consumeProduce(
  label: string,
  admin: Admin,
  run: number,
  avro: Serde | undefined,
  clientFor: (output: string) => LoopClient,
): Promise<Run> {
  const output = `bench-out-${ID}-${label}${avro ? '-avro' : ''}-${run}`;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: output, numPartitions: PARTITIONS, replicationFactor: 1 }],
  });
  const client = clientFor(output);
  const { producer, consumer } = client;
  const cpu0 = process.cpuUsage();
  let first: number | undefined;
  await Promise.all([producer.connect(), consumer.connect()]);
  try {
    await consumer.subscribe({ topics: [INPUT], ...client.subscribe });
    const transform = async (m: KafkaMessage): Promise<Buffer | null> => {
      if (avro === undefined || m.value === null) return m.value;
      const { value } = await avro.decode(INPUT, m.value);
      return avro.encode(output, value);
    };
    await consumer.run({
      ...client.run,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: async (payload) => {
        const { batch } = payload;
        first ??= performance.now();
        for (let i = 0; i < batch.messages.length; i += BATCH) {
          if (!payload.isRunning() || payload.isStale()) return;
          const chunk = batch.messages.slice(i, i + BATCH);
          const messages = await Promise.all(
            chunk.map(async (m) => ({ key: m.key, value: await transform(m), headers: m.headers ?? {} })),
          );
          await producer.sendBatch({ ...client.send, topicMessages: [{ topic: output, messages }] });
          const last = chunk[chunk.length - 1]!.offset;
          payload.resolveOffset(last);
          await consumer.commitOffsets([
            { topic: batch.topic, partition: batch.partition, offset: String(BigInt(last) + 1n) },
          ]);
          await payload.heartbeat();
        }
      },
    });
    const { at, outputs } = await waitForOutputs(admin, output, N);
    const used = process.cpuUsage(cpu0);
    return { seconds: (at - (first ?? at)) / 1000, cpu: (used.user + used.system) / 1e6, outputs };
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
}

/** The bare loop on kafkajs. */
function bareLoop(list: string[], admin: Admin, run: number, avro: Serde | undefined): Promise<Run> {
  return consumeProduce('bare', admin, run, avro, (output) => {
    const kafka = new Kafka({
      clientId: 'bench-bare',
      brokers: list,
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 200, retries: 8 },
    });
    return {
      producer: kafka.producer({ idempotent: true, maxInFlightRequests: 1 }),
      consumer: kafka.consumer({
        groupId: `bench-g-${output}`,
        sessionTimeout: 30_000,
        heartbeatInterval: 3_000,
        maxWaitTimeInMs: 200,
      }),
      subscribe: { fromBeginning: true },
      run: { autoCommit: false },
      send: { acks: -1 },
    };
  });
}

/** The topology: one identity `map`, a `toTopic` sink keyed by imageId, on the Kafka log. */
async function topologyRun(
  list: string[],
  admin: Admin,
  run: number,
  serde: Serde,
  avro: boolean,
  client: KafkaClientName = 'kafkajs',
  confluentModule?: string,
): Promise<Run> {
  const output = `bench-out-${ID}-topology-${client}${avro ? '-avro' : ''}-${run}`;
  let first: number | undefined;
  const t = topology(
    'bench-passthrough',
    { deadLetterTopic: `bench-dlq-${ID}`, run: { maxBatchRecords: BATCH, maxInFlight: 64 } },
    (b) =>
      b
        // Avro values are image.ingested events; raw bytes are opaque.
        .stream(topic<ImageIngested | Buffer>(INPUT), { group: `bench-g-${output}` })
        .map('identity', (v) => {
          first ??= performance.now();
          return v;
        })
        .to(topic<ImageIngested | Buffer>(output, { partitions: PARTITIONS }), {
          // Avro values carry the imageId; raw bytes do not, and their record key is that imageId.
          key: (v, ctx) => (Buffer.isBuffer(v) ? ctx.record.key : v.imageId),
        }),
  );
  const log = createKafkaLogWith(client, {
    brokers: list,
    clientId: 'bench-topology',
    defaultPartitions: PARTITIONS,
    ...(confluentModule === undefined ? {} : { confluentModule }),
  });
  const cpu0 = process.cpuUsage();
  try {
    const running = await runTopology(t, { log, serde });
    const { at, outputs } = await waitForOutputs(admin, output, N);
    const used = process.cpuUsage(cpu0);
    await running.stop();
    return { seconds: (at - (first ?? at)) / 1000, cpu: (used.user + used.system) / 1e6, outputs };
  } finally {
    await log.close();
  }
}

/** The part of @confluentinc/kafka-javascript's KafkaJS-compatible API the librdkafka loop uses. */
interface ConfluentKafkaJS {
  readonly Kafka: new (config: { kafkaJS: Record<string, unknown> }) => {
    producer(config: { kafkaJS: Record<string, unknown> }): ReturnType<Kafka['producer']>;
    consumer(config: {
      kafkaJS: Record<string, unknown>;
      [librdkafka: string]: unknown;
    }): ReturnType<Kafka['consumer']>;
  };
  readonly logLevel: { NOTHING: number };
}

/**
 * The bare loop on @confluentinc/kafka-javascript (librdkafka) through its KafkaJS-compatible
 * API: the same batches, manual offsets and idempotent producer; acks, `fromBeginning` and
 * auto-commit go in the client configs, as that API requires.
 */
function confluentLoop(
  client: ConfluentKafka,
  list: string[],
  admin: Admin,
  run: number,
  avro: Serde | undefined,
): Promise<Run> {
  const { KafkaJS } = createRequire(import.meta.url)(client.modulePath) as { KafkaJS: ConfluentKafkaJS };
  return consumeProduce('confluent', admin, run, avro, (output) => {
    const kafka = new KafkaJS.Kafka({
      kafkaJS: { clientId: 'bench-confluent', brokers: list, logLevel: KafkaJS.logLevel.NOTHING },
    });
    return {
      producer: kafka.producer({ kafkaJS: { idempotent: true, acks: -1 } }),
      consumer: kafka.consumer({
        // Batches of up to BATCH as the kafkajs loop gets them (this API hands out 32 by default).
        'js.consumer.max.batch.size': BATCH,
        kafkaJS: {
          groupId: `bench-g-${output}`,
          fromBeginning: true,
          autoCommit: false,
          sessionTimeout: 30_000,
          heartbeatInterval: 3_000,
          maxWaitTimeInMs: 200,
        },
      }),
      subscribe: {},
      run: {},
      send: {},
    };
  });
}

/**
 * The yardstick: the Kafka Streams app of deploy/bench/kafka-streams (one stream thread, the JVM's
 * defaults otherwise, idempotent producer with acks=all) as a child process on the same input.
 * Timed like the others, from its first record (it prints the epoch ms) until every output is in;
 * the JVM's start and the group join are not counted. Its CPU is another process's: not shown.
 */
async function kafkaStreamsRun(
  app: KafkaStreamsApp,
  list: string[],
  admin: Admin,
  run: number,
  registryUrl: string | undefined,
): Promise<Run> {
  const output = `bench-out-${ID}-kstreams${registryUrl === undefined ? '' : '-avro'}-${run}`;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: output, numPartitions: PARTITIONS, replicationFactor: 1 }],
  });
  const args = [
    '-cp',
    app.classpath,
    app.mainClass,
    list.join(','),
    INPUT,
    output,
    registryUrl === undefined ? 'raw' : 'avro',
    `bench-ks-${ID}-${run}-${registryUrl === undefined ? 'raw' : 'avro'}`,
    ...(registryUrl === undefined ? [] : [registryUrl]),
  ];
  const child = spawn(app.java, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let first: number | undefined;
  let failed = false;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('FIRST ')) first = Number(line.slice(6));
    if (line === 'ERROR') failed = true;
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    const done = await Promise.race([
      waitForOutputs(admin, output, N),
      exited.then(() => {
        throw new Error(`Kafka Streams app exited early${failed ? ' (state ERROR)' : ''}`);
      }),
    ]);
    const at = performance.timeOrigin + done.at;
    return { seconds: (at - (first ?? at)) / 1000, cpu: Number.NaN, outputs: done.outputs };
  } finally {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Serves the schemas of `registry` by id, as a Confluent registry does, for the Kafka Streams app. */
async function serveSchemas(registry: EmbeddedSchemaRegistry): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const id = /^\/schemas\/ids\/(\d+)$/.exec(req.url ?? '')?.[1];
    if (id === undefined) {
      res.writeHead(404).end();
      return;
    }
    registry.getById(Number(id)).then(
      (schema) => {
        res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
        res.end(JSON.stringify({ schema: JSON.stringify(schema) }));
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('schema server: no port');
  return { url: `http://127.0.0.1:${address.port}`, server };
}

const kafkaInfo = await brokers();
const admin = new Kafka({
  clientId: 'bench-admin',
  brokers: kafkaInfo.brokers,
  logLevel: logLevel.NOTHING,
}).admin();
await admin.connect();
try {
  // The same messages for every run: N image.ingested events, Avro (Confluent framing), keyed by imageId.
  const schemaRegistry = new EmbeddedSchemaRegistry({ path: ':memory:' });
  const avro = new AvroSerde(schemaRegistry);
  const schemas = await serveSchemas(schemaRegistry);
  // CAPTIONFLOW_BENCH_KSTREAMS=0 leaves the Kafka Streams yardstick out (no Java, no Maven download).
  const withKafkaStreams = process.env.CAPTIONFLOW_BENCH_KSTREAMS !== '0';
  const ksApp = withKafkaStreams ? await ensureKafkaStreamsApp() : undefined;
  // CAPTIONFLOW_BENCH_CONFLUENT=0 leaves the librdkafka client out (its first install builds librdkafka).
  const confluent =
    process.env.CAPTIONFLOW_BENCH_CONFLUENT === '0' ? undefined : await ensureConfluentKafka();
  if (confluent !== undefined)
    console.log(
      `@confluentinc/kafka-javascript ${confluent.version}: built from source (librdkafka from its npm tarball, system libraries) in ${confluent.buildSeconds.toFixed(0)} s on first install`,
    );
  const avroPort = avroSerdePort(avro, (t) =>
    t.startsWith('bench-dlq-')
      ? Topics.deadLetter.name
      : t.startsWith('bench-')
        ? Topics.imageIngested.name
        : t,
  );
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: INPUT, numPartitions: PARTITIONS, replicationFactor: 1 }],
  });
  const feeder = new Kafka({
    clientId: 'bench-feed',
    brokers: kafkaInfo.brokers,
    logLevel: logLevel.NOTHING,
  }).producer({ idempotent: true, maxInFlightRequests: 1 });
  await feeder.connect();
  let bytes = 0;
  for (let i = 0; i < N; i += 2_000) {
    const messages = [];
    for (let j = i; j < Math.min(N, i + 2_000); j++) {
      const event = benchIngested(j, `batch-${ID}`);
      const value = await avroPort.encode(INPUT, event);
      bytes += value.byteLength;
      messages.push({ key: event.imageId, value });
    }
    await feeder.sendBatch({ acks: -1, topicMessages: [{ topic: INPUT, messages }] });
  }
  await feeder.disconnect();
  console.log(
    `kafka: ${kafkaInfo.how}; ${N} image.ingested messages (Avro, ${(bytes / N).toFixed(0)} B average) in ${INPUT}, ${PARTITIONS} partitions; batches of ${BATCH}`,
  );

  const BARE = 'bare kafkajs loop, raw bytes (baseline)';
  const BARE_AVRO = 'bare kafkajs loop, Avro decode+encode';
  const TOPO = 'topology, raw bytes (no serde)';
  const TOPO_AVRO = 'topology, Avro serde';
  const PTOPO = 'topology on @platformatic/kafka, raw bytes';
  const PTOPO_AVRO = 'topology on @platformatic/kafka, Avro serde';
  const CONF = 'bare @confluentinc/kafka-javascript loop (librdkafka), raw bytes';
  const CONF_AVRO = 'bare @confluentinc/kafka-javascript loop (librdkafka), Avro decode+encode';
  const CTOPO = 'topology on @confluentinc/kafka-javascript, raw bytes';
  const CTOPO_AVRO = 'topology on @confluentinc/kafka-javascript, Avro serde';
  const KS = 'Kafka Streams, raw bytes';
  const KS_AVRO = 'Kafka Streams, Avro decode+encode';
  const all: { id: string; name: string; run: (r: number) => Promise<Run> }[] = [
    { id: 'bare', name: BARE, run: (r) => bareLoop(kafkaInfo.brokers, admin, r, undefined) },
    { id: 'topology', name: TOPO, run: (r) => topologyRun(kafkaInfo.brokers, admin, r, rawSerde, false) },
    { id: 'bare-avro', name: BARE_AVRO, run: (r) => bareLoop(kafkaInfo.brokers, admin, r, avroPort) },
    {
      id: 'topology-avro',
      name: TOPO_AVRO,
      run: (r) => topologyRun(kafkaInfo.brokers, admin, r, avroPort, true),
    },
    {
      id: 'platformatic',
      name: PTOPO,
      run: (r) => topologyRun(kafkaInfo.brokers, admin, r, rawSerde, false, 'platformatic'),
    },
    {
      id: 'platformatic-avro',
      name: PTOPO_AVRO,
      run: (r) => topologyRun(kafkaInfo.brokers, admin, r, avroPort, true, 'platformatic'),
    },
    ...(confluent === undefined
      ? []
      : [
          {
            id: 'confluent',
            name: CONF,
            run: (r: number) => confluentLoop(confluent, kafkaInfo.brokers, admin, r, undefined),
          },
          {
            id: 'confluent-avro',
            name: CONF_AVRO,
            run: (r: number) => confluentLoop(confluent, kafkaInfo.brokers, admin, r, avroPort),
          },
          {
            id: 'confluent-topology',
            name: CTOPO,
            run: (r: number) => topologyRun(kafkaInfo.brokers, admin, r, rawSerde, false, 'confluent', confluent.modulePath),
          },
          {
            id: 'confluent-topology-avro',
            name: CTOPO_AVRO,
            run: (r: number) => topologyRun(kafkaInfo.brokers, admin, r, avroPort, true, 'confluent', confluent.modulePath),
          },
        ]),
    ...(ksApp === undefined
      ? []
      : [
          {
            id: 'kstreams',
            name: KS,
            run: (r: number) => kafkaStreamsRun(ksApp, kafkaInfo.brokers, admin, r, undefined),
          },
          {
            id: 'kstreams-avro',
            name: KS_AVRO,
            run: (r: number) => kafkaStreamsRun(ksApp, kafkaInfo.brokers, admin, r, schemas.url),
          },
        ]),
  ];
  // CAPTIONFLOW_BENCH_ONLY=topology (comma-separated ids) runs a subset: for a clean --cpu-prof of one side.
  const only = process.env.CAPTIONFLOW_BENCH_ONLY?.split(',').filter((x) => x !== '');
  const variants = only === undefined || only.length === 0 ? all : all.filter((v) => only.includes(v.id));
  // Interleaved rounds: a neighbour's load hits every side alike; median and spread of the rounds.
  const seconds = new Samples();
  const cpu = new Samples();
  const problems: string[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants) {
      const run = await v.run(r);
      if (run.outputs !== N)
        problems.push(`${v.name}, round ${r + 1}: ${run.outputs} outputs for ${N} inputs`);
      seconds.add(v.name, run.seconds);
      cpu.add(v.name, run.cpu);
    }
  }
  const rates = (name: string): number[] => seconds.get(name).map((s) => N / s);
  const cpuUs = (name: string): string => formatSpread(spread(cpu.get(name).map((c) => (c / N) * 1e6)), 0);
  if (variants.length < all.length) {
    for (const v of variants)
      console.log(
        `${v.name}: ${formatSpread(spread(rates(v.name)), 0)} msgs/s${Number.isNaN(cpu.get(v.name)[0]) ? '' : `, ${cpuUs(v.name)} µs CPU per message`}`,
      );
  } else {
    const row = (name: string, baseline?: string): Row => ({
      name,
      count: N,
      seconds: seconds.get(name),
      unit: 'msgs',
      ...(baseline === undefined ? {} : { baseline }),
    });
    report(`Kafka passthrough, ${N} messages, ${PARTITIONS} partitions`, [
      row(BARE),
      row(TOPO, BARE),
      row(TOPO_AVRO, BARE),
      row(BARE_AVRO, BARE),
      row(PTOPO, BARE),
      row(PTOPO_AVRO, BARE),
      ...(confluent === undefined ? [] : [row(CONF, BARE), row(CONF_AVRO, BARE), row(CTOPO, BARE), row(CTOPO_AVRO, BARE)]),
      ...(ksApp === undefined ? [] : [row(KS, BARE), row(KS_AVRO, BARE)]),
    ]);
    console.log('\nCPU µs per message in this process (the broker not counted), median [min–max]:');
    for (const v of variants)
      if (!Number.isNaN(cpu.get(v.name)[0]))
        console.log(`  ${v.name.padEnd(48)} ${cpuUs(v.name).padStart(16)}`);
    const ratio = (a: string, b: string): string => formatSpread(spread(ratios(rates(a), rates(b))));
    console.log(`\nratios, median [min–max] of the per-round ratios:`);
    console.log(
      `(a) the engine alone, no serde: topology raw / bare raw = ${ratio(TOPO, BARE)} (target >= 0.9)`,
    );
    console.log(
      `(b) same work on both sides: topology with Avro / bare loop with Avro = ${ratio(TOPO_AVRO, BARE_AVRO)} (target >= 0.85)`,
    );
    console.log(`(c) topology with Avro / bare loop copying raw bytes = ${ratio(TOPO_AVRO, BARE)};`);
    console.log(
      `    the ceiling of (c) for any loop that decodes and encodes: bare with Avro / bare raw = ${ratio(BARE_AVRO, BARE)}`,
    );
    console.log(
      `(d) client: topology on @platformatic/kafka / on kafkajs, raw = ${ratio(PTOPO, TOPO)}, Avro = ${ratio(PTOPO_AVRO, TOPO_AVRO)} (default switch needs >= 1.5)`,
    );
    console.log(
      `    topology on @platformatic/kafka with Avro / bare kafkajs loop with Avro = ${ratio(PTOPO_AVRO, BARE_AVRO)}`,
    );
    if (confluent !== undefined)
      console.log(
        `(f) librdkafka: bare @confluentinc/kafka-javascript loop / bare kafkajs loop, raw = ${ratio(CONF, BARE)}, Avro = ${ratio(CONF_AVRO, BARE_AVRO)}; topology on @platformatic/kafka / bare librdkafka loop, raw = ${ratio(PTOPO, CONF)}, Avro = ${ratio(PTOPO_AVRO, CONF_AVRO)}`,
      );
    if (confluent !== undefined)
      console.log(
        `(g) client: topology on @confluentinc/kafka-javascript / on kafkajs, raw = ${ratio(CTOPO, TOPO)}, Avro = ${ratio(CTOPO_AVRO, TOPO_AVRO)} (default switch needs >= 1.5); / on @platformatic/kafka, raw = ${ratio(CTOPO, PTOPO)}, Avro = ${ratio(CTOPO_AVRO, PTOPO_AVRO)}`,
      );
    if (ksApp !== undefined) {
      console.log(
        `(e) against Kafka Streams (${KAFKA.version}, 1 stream thread), captionflow / Kafka Streams:`,
      );
      console.log(
        `    raw: topology on kafkajs ${ratio(TOPO, KS)}, on @platformatic/kafka ${ratio(PTOPO, KS)}${confluent === undefined ? '' : `, on librdkafka ${ratio(CTOPO, KS)}`}, bare kafkajs loop ${ratio(BARE, KS)}`,
      );
      console.log(
        `    Avro: topology on kafkajs ${ratio(TOPO_AVRO, KS_AVRO)}, on @platformatic/kafka ${ratio(PTOPO_AVRO, KS_AVRO)}${confluent === undefined ? '' : `, on librdkafka ${ratio(CTOPO_AVRO, KS_AVRO)}`}, bare kafkajs loop ${ratio(BARE_AVRO, KS_AVRO)}`,
      );
    }
    console.log(`peak RSS of this process: ${peakRssMiB().toFixed(0)} MiB`);
  }
  for (const p of problems) console.log(`PROBLEM: ${p}`);
  schemas.server.close();
} finally {
  try {
    const mine = (await admin.listTopics()).filter((t) => t.endsWith(ID) || t.includes(`-${ID}-`));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine, timeout: 30_000 });
    const groups = (await admin.listGroups()).groups
      .map((g) => g.groupId)
      .filter((g) => g.includes(`-${ID}-`));
    // Kafka Streams does not leave its group on close: its groups expire after the session timeout.
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
  } finally {
    await admin.disconnect();
    await kafkaInfo.stop();
  }
}
