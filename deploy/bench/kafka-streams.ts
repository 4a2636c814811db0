/**
 * Builds the Kafka Streams yardstick (deploy/bench/kafka-streams/) once per machine into the
 * captionflow cache: `mvn dependency:copy-dependencies` of its pom (kafka-streams at the broker's
 * version, Apache Avro) and javac of its one source file. Returns the java command line parts.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureJava } from '../services/java.ts';
import { copyDependencies } from '../services/maven.ts';
import { cacheDir } from '../services/paths.ts';
import { runCommand, withLock } from '../services/run-command.ts';
import { KAFKA } from '../services/versions.ts';

const SOURCE = fileURLToPath(new URL('./kafka-streams/', import.meta.url));

/** The built app: `java -cp <classpath> dev.captionflow.bench.Passthrough …`. */
export interface KafkaStreamsApp {
  readonly java: string;
  readonly classpath: string;
  readonly mainClass: string;
}

/** Build (first time, a few minutes: Maven Central downloads) or reuse the Kafka Streams app. */
export async function ensureKafkaStreamsApp(): Promise<KafkaStreamsApp> {
  const home = join(cacheDir(), 'kafka-streams-bench', KAFKA.version);
  const libs = join(home, 'libs');
  const classes = join(home, 'classes');
  mkdirSync(home, { recursive: true });
  const logFile = join(home, 'build.log');
  const java = await ensureJava(17, logFile);
  await withLock(join(home, '.lock'), async () => {
    if (!existsSync(join(libs, `kafka-streams-${KAFKA.version}.jar`))) {
      await copyDependencies(join(SOURCE, 'pom.xml'), { 'kafka.version': KAFKA.version }, libs, logFile);
    }
    // Always recompiled: one file, a second or two, and the source may have changed.
    mkdirSync(classes, { recursive: true });
    const javac = join(java, '..', 'javac');
    await runCommand(
      existsSync(javac) ? javac : 'javac',
      ['-d', classes, '-cp', join(libs, '*'), join(SOURCE, 'src/main/java/dev/captionflow/bench/Passthrough.java')],
      { logFile, timeoutMs: 5 * 60_000 },
    );
  });
  const jars = readdirSync(libs).filter((f) => f.endsWith('.jar'));
  if (jars.length === 0) throw new Error(`no jars in ${libs}; see ${logFile}`);
  return { java, classpath: `${classes}:${join(libs, '*')}`, mainClass: 'dev.captionflow.bench.Passthrough' };
}
