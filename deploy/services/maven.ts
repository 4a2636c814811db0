/**
 * Maven invocations against the captionflow cache: a local repository of our own, so that the
 * jars we need are fetched once per machine and never mixed with ~/.m2.
 */
import { join } from 'node:path';
import { cacheDir } from './paths.ts';
import { runCommand } from './run-command.ts';

/** Pinned so that `copy` with `-Dartifact` (absent from Maven 3.8's default 2.8) is available. */
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

/** Arguments every Maven call gets: batch mode, our local repository. */
function baseArgs(): string[] {
  return ['-B', '-q', `-Dmaven.repo.local=${join(cacheDir(), 'maven', 'repo')}`];
}

/** Copies the runtime dependencies of `pom` (with `props` set) into `outDir`. */
export async function copyDependencies(
  pom: string,
  props: Record<string, string>,
  outDir: string,
  logFile: string,
): Promise<void> {
  const defines = Object.entries(props).map(([k, v]) => `-D${k}=${v}`);
  await runCommand(
    'mvn',
    [
      ...baseArgs(),
      '-f',
      pom,
      ...defines,
      `${DEPENDENCY_PLUGIN}:copy-dependencies`,
      `-DoutputDirectory=${outDir}`,
      '-DincludeScope=runtime',
    ],
    { logFile, timeoutMs: 20 * 60_000 },
  );
}

/** Copies one artifact (`group:artifact:version[:type[:classifier]]`) into `outDir`. */
export async function copyArtifact(coordinates: string, outDir: string, logFile: string): Promise<void> {
  await runCommand(
    'mvn',
    [...baseArgs(), `${DEPENDENCY_PLUGIN}:copy`, `-Dartifact=${coordinates}`, `-DoutputDirectory=${outDir}`],
    { logFile, timeoutMs: 20 * 60_000, cwd: outDir },
  );
}

/** Runs `mvn package` on `pom` (with `props` set) under the JDK at `javaHome`. */
export async function packageProject(
  pom: string,
  props: Record<string, string>,
  javaHome: string,
  logFile: string,
): Promise<void> {
  const defines = Object.entries(props).map(([k, v]) => `-D${k}=${v}`);
  await runCommand('mvn', [...baseArgs(), '-f', pom, ...defines, 'package'], {
    logFile,
    timeoutMs: 20 * 60_000,
    env: { ...process.env, JAVA_HOME: javaHome },
  });
}
