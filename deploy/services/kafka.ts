/**
 * Apache Kafka in KRaft mode as one combined broker/controller process, run from the jars
 * Maven resolves for `kafka/pom.xml`. No Kafka distribution archive and no scripts: the
 * classpath is the jar folder and the main classes are called directly.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ensureJava } from './java.ts';
import { copyDependencies } from './maven.ts';
import { cacheDir, servicesSourceDir } from './paths.ts';
import { forgetOnExit, killOnExit, perTestDir } from './per-test-process.ts';
import { freePort, spawnLogged, stopProcess, waitHealthy } from './processes.ts';
import { installedOnce, installOnce, runCommand } from './run-command.ts';
import type { RunContext, ServiceDriver, ServiceEnv, Started } from './service.ts';
import { HEALTH_TIMEOUT_MS, KAFKA } from './versions.ts';

const BROKERS = `127.0.0.1:${KAFKA.brokerPort}`;

function libDir(): string {
  return join(cacheDir(), 'kafka', `${KAFKA.scala}-${KAFKA.version}`, 'libs');
}

/**
 * A Kafka Uuid: 16 random bytes in unpadded base64url, what `StorageTool random-uuid` prints,
 * without paying a JVM start for it. Like Kafka's Uuid.randomUuid, never one starting with '-',
 * which a command line would read as an option (one start in 64 failed that way).
 */
export function kafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function serverProperties(dataDir: string, ports: { broker: number; controller: number } = { broker: KAFKA.brokerPort, controller: KAFKA.controllerPort }): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `listeners=PLAINTEXT://127.0.0.1:${ports.broker},CONTROLLER://127.0.0.1:${ports.controller}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${ports.broker},CONTROLLER://127.0.0.1:${ports.controller}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    `controller.quorum.bootstrap.servers=127.0.0.1:${ports.controller}`,
    `log.dirs=${dataDir}`,
    `num.partitions=${KAFKA.partitions}`,
    'auto.create.topics.enable=true',
    // A single node: every internal topic has one replica.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // Fewer internal partitions than the default 50: the first group or transaction would
    // otherwise wait for 50 partitions to be created on 2 cores.
    'offsets.topic.num.partitions=5',
    'transaction.state.log.num.partitions=5',
    // Tests join groups constantly; the default 3 s delay would slow every one of them.
    'group.initial.rebalance.delay.ms=0',
    'log.segment.bytes=16777216',
    '',
  ].join('\n');
}

function log4jProperties(): string {
  // Kafka 4 ships its Log4j2 config only in the distribution archive: ours logs to stdout,
  // which the process runner sends to the service's log file.
  return [
    'status = warn',
    'appender.out.type = Console',
    'appender.out.name = STDOUT',
    'appender.out.layout.type = PatternLayout',
    'appender.out.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = INFO',
    'rootLogger.appenderRef.out.ref = STDOUT',
    'logger.kafka.name = kafka',
    'logger.kafka.level = INFO',
    'logger.state.name = state.change.logger',
    'logger.state.level = WARN',
    'logger.request.name = kafka.request.logger',
    'logger.request.level = WARN',
    '',
  ].join('\n');
}

function jvmArgs(runDir: string): string[] {
  return [
    KAFKA.heap,
    '-Xms128m',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Djava.io.tmpdir=${join(runDir, 'tmp')}`,
    `-Dlog4j2.configurationFile=${join(runDir, 'log4j2.properties')}`,
    `-Dkafka.logs.dir=${join(runDir, 'logs')}`,
    '-cp',
    `${libDir()}/*`,
  ];
}

/** Write a broker's configs into `runDir` and format its storage; returns the server.properties path. */
async function formatRunDir(java: string, runDir: string, logFile: string, ports?: { broker: number; controller: number }): Promise<string> {
  const dataDir = join(runDir, 'data');
  for (const d of [dataDir, join(runDir, 'tmp'), join(runDir, 'logs')]) mkdirSync(d, { recursive: true });
  const props = join(runDir, 'server.properties');
  writeFileSync(props, serverProperties(dataDir, ports));
  writeFileSync(join(runDir, 'log4j2.properties'), log4jProperties());
  await runCommand(
    java,
    [...jvmArgs(runDir), 'kafka.tools.StorageTool', 'format', '--standalone', `--cluster-id=${kafkaClusterId()}`, '-c', props],
    { logFile, cwd: runDir, timeoutMs: 120_000 },
  );
  return props;
}

/** A broker answers metadata and a group coordinator (so consumer groups can form). */
async function brokerReady(brokers: string): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'captionflow-services-health',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.controller === null || cluster.brokers.length === 0) return false;
    // Finding a group's coordinator makes a fresh broker create __consumer_offsets, which the
    // first test to join a group would otherwise wait on.
    await admin.describeGroups(['captionflow-services-health']);
    return true;
  } finally {
    await admin.disconnect();
  }
}

/** A broker of one test's own, which it may take down and bring back (see {@link startPrivateKafka}). */
export interface PrivateKafka {
  /** `127.0.0.1:<port>`. */
  readonly brokers: string;
  /** Take the broker down (a clean shutdown), keeping its data. */
  down(): Promise<void>;
  /** Bring it back on the same ports and data; resolves once it serves groups again. */
  up(): Promise<void>;
  /** Stop it and remove its folder. */
  close(): Promise<void>;
}

/**
 * Start a Kafka broker on free ports with data in a temp folder, for outage tests that must not
 * disturb the shared broker other tests use. Uses the jars the shared service installed (run
 * through `npm test`, or `npm run services -- up kafka` first). It is a child of the calling
 * process and dies with it.
 */
export async function startPrivateKafka(): Promise<PrivateKafka> {
  if (!installedOnce(libDir())) throw new Error('Kafka is not installed: run `npm run services -- up kafka` first');
  const dir = perTestDir('kafka');
  const logFile = join(dir, 'kafka.log');
  const java = await ensureJava(KAFKA.javaMin, join(dir, 'install.log'));
  const ports = { broker: await freePort(), controller: await freePort() };
  const brokers = `127.0.0.1:${ports.broker}`;
  const props = await formatRunDir(java, dir, logFile, ports);
  let pid: number | undefined;
  const up = async (): Promise<void> => {
    if (pid !== undefined) return;
    const started = spawnLogged({ cmd: java, args: [...jvmArgs(dir), 'kafka.Kafka', props], cwd: dir, logFile, detached: false });
    pid = started;
    killOnExit(started);
    await waitHealthy(() => brokerReady(brokers), { name: 'private kafka', timeoutMs: HEALTH_TIMEOUT_MS.kafka, pid: started, logFile });
  };
  const down = async (): Promise<void> => {
    if (pid === undefined) return;
    const stopping = pid;
    pid = undefined;
    await stopProcess(stopping, { group: false, graceMs: 20_000 });
    forgetOnExit(stopping);
  };
  await up();
  return {
    brokers,
    up,
    down,
    close: async () => {
      await down();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The Kafka driver. */
export const kafkaDriver: ServiceDriver = {
  name: 'kafka',
  ports: [KAFKA.brokerPort, KAFKA.controllerPort],
  healthTimeoutMs: HEALTH_TIMEOUT_MS.kafka,
  // A clean shutdown (controlled, with the log flushed) takes a few seconds.
  stopGraceMs: 20_000,

  installs: 'Apache Kafka jars from Maven Central (≈30 s)',
  installed: () => installedOnce(libDir()),

  async install(ctx: RunContext): Promise<void> {
    await installOnce(libDir(), async () => {
      await copyDependencies(
        join(servicesSourceDir(), 'kafka', 'pom.xml'),
        { 'kafka.version': KAFKA.version, 'log4j.version': KAFKA.log4jVersion },
        libDir(),
        ctx.installLog,
      );
      return KAFKA.version;
    });
  },

  async start(ctx: RunContext): Promise<Started> {
    const java = await ensureJava(KAFKA.javaMin, ctx.installLog);
    const props = await formatRunDir(java, ctx.runDir, ctx.logFile);
    const pid = spawnLogged({
      cmd: java,
      args: [...jvmArgs(ctx.runDir), 'kafka.Kafka', props],
      cwd: ctx.runDir,
      logFile: ctx.logFile,
      detached: true,
    });
    return { pid };
  },

  healthy(): Promise<boolean> {
    return brokerReady(BROKERS);
  },

  env(): ServiceEnv {
    return { CF_KAFKA_BROKERS: BROKERS };
  },
};
