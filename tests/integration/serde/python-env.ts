/**
 * The Python the interop test runs: one where confluent-kafka's Avro serde imports. Taken from
 * CF_INTEROP_PYTHON, else a venv cached outside the repo
 * (`${XDG_CACHE_HOME:-~/.cache}/captionflow/venv-interop`), created on first use from PyPI.
 * Debian's python3-confluent-kafka (1.7 on bookworm) is not enough: its AvroSerializer needs
 * fastavro, which Debian does not package.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Pinned so that the interop result does not change under us. */
export const CONFLUENT_KAFKA_PY = 'confluent-kafka[avro,schemaregistry]==2.16.1';

const PROBE =
  'import confluent_kafka, fastavro; from confluent_kafka.schema_registry.avro import AvroSerializer; print(confluent_kafka.version()[0], fastavro.__version__)';

function venvDir(): string {
  const cache = process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache');
  return join(cache, 'captionflow', 'venv-interop');
}

async function probe(python: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(python, ['-c', PROBE], { timeout: 60_000 });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

/** A usable Python with its confluent-kafka/fastavro versions, or the reason there is none. */
export async function interopPython(): Promise<{ python: string; versions: string } | { skip: string }> {
  const explicit = process.env['CF_INTEROP_PYTHON'];
  if (explicit !== undefined && explicit !== '') {
    const versions = await probe(explicit);
    return versions === undefined
      ? { skip: `CF_INTEROP_PYTHON=${explicit} cannot import confluent_kafka's Avro serde` }
      : { python: explicit, versions };
  }
  const dir = venvDir();
  const python = join(dir, 'bin', 'python');
  if (existsSync(python)) {
    const versions = await probe(python);
    if (versions !== undefined) return { python, versions };
  }
  const lock = `${dir}.lock`;
  try {
    mkdirSync(join(dir, '..'), { recursive: true });
    mkdirSync(lock); // one creator at a time; a stale lock after a crash is removed below
  } catch {
    return { skip: `${lock} exists: another run is creating the venv (remove it if stale)` };
  }
  try {
    rmSync(dir, { recursive: true, force: true });
    await run('python3', ['-m', 'venv', dir], { timeout: 120_000 });
    await run(
      python,
      ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', CONFLUENT_KAFKA_PY],
      {
        timeout: 600_000,
      },
    );
  } catch (err) {
    return {
      skip: `could not create the interop venv in ${dir}: ${(err as Error).message.split('\n')[0] ?? ''}`,
    };
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  const versions = await probe(python);
  return versions === undefined
    ? { skip: `the venv in ${dir} cannot import confluent_kafka's Avro serde` }
    : { python, versions };
}
