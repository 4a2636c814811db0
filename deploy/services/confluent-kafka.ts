/**
 * Installs @confluentinc/kafka-javascript (librdkafka's Node.js binding) once per machine into
 * the captionflow cache: the event log's `confluent` client for the Kafka tests (`npm test` sets
 * CAPTIONFLOW_KAFKA_CONFLUENT_MODULE to it) and the passthrough benchmark's librdkafka sides, and
 * for a developer through `npm run -s services -- confluent-kafka`. It is not a dependency of
 * captionflow: its install builds librdkafka from the sources in its npm tarball.
 *
 * Its install script first asks GitHub for a prebuilt binary (unreachable here; nothing is
 * downloaded from anywhere but the npm registry), then falls back to node-gyp. With
 * `CKJS_LINKING=dynamic` the bundled librdkafka is configured against the system's libraries
 * (Debian's -dev packages, installed here when missing) instead of `--install-deps`, which would
 * download OpenSSL, zstd and curl sources. The build's wall time is kept beside the install and
 * printed by the benchmark.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebianPackage } from './apt.ts';
import { cacheDir } from './paths.ts';
import { installedOnce, installOnce, runCommand } from './run-command.ts';
import { CONFLUENT_KAFKA_TESTED_VERSION } from '../../runtime/log/confluent-kafka-log.ts';

export const CONFLUENT_KAFKA_VERSION = CONFLUENT_KAFKA_TESTED_VERSION;

/** Debian packages librdkafka's configure links against, each with a file that proves it is there. */
const BUILD_DEPS: readonly { pkg: string; file: string }[] = [
  { pkg: 'libssl-dev', file: '/usr/include/openssl/ssl.h' },
  { pkg: 'libsasl2-dev', file: '/usr/include/sasl/sasl.h' },
  { pkg: 'libzstd-dev', file: '/usr/include/zstd.h' },
  { pkg: 'zlib1g-dev', file: '/usr/include/zlib.h' },
  { pkg: 'liblz4-dev', file: '/usr/include/lz4.h' },
  { pkg: 'libcurl4-openssl-dev', file: '/usr/include/x86_64-linux-gnu/curl/curl.h' },
];

/** The installed client: the module folder to require, and how long its first build took. */
export interface ConfluentKafka {
  readonly modulePath: string;
  readonly version: string;
  readonly buildSeconds: number;
}

/** The cache folder of the client's install. */
function confluentHome(): string {
  return join(cacheDir(), 'confluent-kafka-javascript', CONFLUENT_KAFKA_VERSION);
}

/** Whether the client is installed in the cache already (no build ahead). */
export function confluentKafkaInstalled(): boolean {
  return installedOnce(confluentHome());
}

/** Install (first time: a from-source librdkafka build, minutes on 2 cores) or reuse the client. */
export async function ensureConfluentKafka(): Promise<ConfluentKafka> {
  const home = confluentHome();
  const modulePath = join(home, 'node_modules', '@confluentinc', 'kafka-javascript');
  const marker = await installOnce(home, async () => {
    for (const d of BUILD_DEPS) await ensureDebianPackage(d.pkg, d.file);
    writeFileSync(
      join(home, 'package.json'),
      JSON.stringify({
        name: 'captionflow-confluent-kafka',
        private: true,
        allowScripts: { '@confluentinc/kafka-javascript': true },
      }),
    );
    const t0 = Date.now();
    await runCommand(
      'npm',
      [
        'install',
        `@confluentinc/kafka-javascript@${CONFLUENT_KAFKA_VERSION}`,
        '--foreground-scripts',
        '--no-audit',
        '--no-fund',
      ],
      { cwd: home, env: { ...process.env, CKJS_LINKING: 'dynamic' }, logFile: join(home, 'build.log'), timeoutMs: 30 * 60_000 },
    );
    return JSON.stringify({ buildSeconds: (Date.now() - t0) / 1000 });
  });
  const { buildSeconds } = JSON.parse(marker) as { buildSeconds: number };
  return { modulePath, version: CONFLUENT_KAFKA_VERSION, buildSeconds };
}
