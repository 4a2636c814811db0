/**
 * Builds Go programs from the Go module proxy into the captionflow cache. Only the binary is
 * kept: after a successful build the module and build caches are dropped, because for a large
 * program such as SeaweedFS they weigh about 5 GB and are needed again only on a version bump.
 */
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cacheDir } from './paths.ts';
import { runCommand } from './run-command.ts';

function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOMODCACHE: join(cacheDir(), 'go', 'mod'),
    GOCACHE: join(cacheDir(), 'go', 'build'),
    GOFLAGS: '-buildvcs=false',
    CGO_ENABLED: '0',
  };
}

/** Downloads `module@version` into the module cache and returns its (read-only) source folder. */
export async function goModDownload(module: string, version: string, logFile: string): Promise<string> {
  const jsonFile = `${logFile}.download.json`;
  mkdirSync(dirname(logFile), { recursive: true });
  await runCommand('sh', ['-c', `go mod download -json '${module}@${version}' > '${jsonFile}'`], {
    cwd: cacheDir(),
    env: goEnv(),
    logFile,
    timeoutMs: 20 * 60_000,
  });
  const info = JSON.parse(readFileSync(jsonFile, 'utf8')) as { Dir?: string; Error?: string };
  rmSync(jsonFile, { force: true });
  if (info.Dir === undefined)
    throw new Error(`go mod download ${module}@${version}: ${info.Error ?? 'no Dir'}`);
  return info.Dir;
}

/**
 * Runs `go build -o out pkg` in `cwd` (a module: its go.mod and go.sum pin every dependency).
 * The binary appears at `out` only once complete, so a killed build leaves nothing half-written.
 */
export async function goBuild(cwd: string, pkg: string, out: string, logFile: string): Promise<void> {
  mkdirSync(dirname(out), { recursive: true });
  const partial = `${out}.partial`;
  await runCommand('go', ['build', '-trimpath', '-ldflags=-s -w', '-o', partial, pkg], {
    cwd,
    env: goEnv(),
    logFile,
    timeoutMs: 60 * 60_000,
  });
  renameSync(partial, out);
  await cleanGoCaches(logFile);
}

/** Drops the Go module and build caches of the captionflow cache (module files are read-only, hence `go clean`). */
export async function cleanGoCaches(logFile: string): Promise<void> {
  await runCommand('go', ['clean', '-modcache', '-cache'], { cwd: cacheDir(), env: goEnv(), logFile });
}
