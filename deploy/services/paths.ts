/**
 * Where installed servers are cached (outside the repo, kept across runs) and where the state
 * of running servers is kept (pids, data folders, env) so that another process can stop them.
 */
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The install cache: `${CAPTIONFLOW_CACHE:-$HOME/.cache/captionflow}`. */
export function cacheDir(): string {
  const fromEnv = process.env['CAPTIONFLOW_CACHE'];
  return resolve(
    fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(homedir(), '.cache', 'captionflow'),
  );
}

/** The default state folder: `${TMPDIR:-/tmp}/captionflow-services`. */
export function defaultStateDir(): string {
  return join(tmpdir(), 'captionflow-services');
}

/** The folder of this module: the pom and the Go wrapper module live beside it. */
export function servicesSourceDir(): string {
  return fileURLToPath(new URL('.', import.meta.url));
}
