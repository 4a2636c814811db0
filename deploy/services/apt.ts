/**
 * Installs a Debian package when its binary is missing. Only the binary is wanted: the
 * package's own system service must never start (we run the program ourselves, as a plain
 * process with our config), so installs run under a policy-rc.d that forbids starting services.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { cacheDir } from './paths.ts';
import { runCommand, withLock } from './run-command.ts';

const POLICY_RC = '/usr/sbin/policy-rc.d';

/** Makes sure `binary` exists, installing Debian package `pkg` (without recommends) if not. */
export async function ensureDebianPackage(pkg: string, binary: string): Promise<string> {
  if (existsSync(binary)) return binary;
  const logFile = join(cacheDir(), 'logs', `apt-${pkg}.log`);
  await withLock(join(cacheDir(), 'apt.lock'), async () => {
    if (existsSync(binary)) return;
    if (process.getuid?.() !== 0) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `${binary} is missing and installing ${pkg} needs root`,
        {
          context: { pkg, binary },
        },
      );
    }
    // Debian's hook for "do not start services from maintainer scripts"; many images ship it.
    const ownPolicy = !existsSync(POLICY_RC);
    if (ownPolicy) writeFileSync(POLICY_RC, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    try {
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      const install = (): Promise<void> =>
        runCommand('apt-get', ['install', '-y', '-q', '--no-install-recommends', pkg], {
          env,
          logFile,
          timeoutMs: 15 * 60_000,
        });
      try {
        await install();
      } catch {
        // A fresh machine has no package lists yet, or stale ones.
        await runCommand('apt-get', ['update', '-q'], { env, logFile, timeoutMs: 10 * 60_000 });
        await install();
      }
    } finally {
      if (ownPolicy) rmSync(POLICY_RC, { force: true });
    }
  });
  if (!existsSync(binary)) {
    throw new PipelineError(ErrorCodes.INTERNAL, `installed ${pkg} but ${binary} is still missing`, {
      context: { pkg, binary, logFile },
    });
  }
  return binary;
}
