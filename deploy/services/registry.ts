/**
 * Apicurio Registry 3 (in-memory storage) from its ready-to-run Quarkus layout on Maven
 * Central (`io.apicurio:apicurio-registry-app:<v>:tar.gz:all`). Confluent clients use its
 * `/apis/ccompat/v7` API.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureJava } from './java.ts';
import { copyArtifact } from './maven.ts';
import { cacheDir } from './paths.ts';
import { httpOk, spawnLogged } from './processes.ts';
import { installedOnce, installOnce, runCommand } from './run-command.ts';
import type { RunContext, ServiceDriver, ServiceEnv, Started } from './service.ts';
import { HEALTH_TIMEOUT_MS, REGISTRY } from './versions.ts';

const BASE = `http://127.0.0.1:${REGISTRY.httpPort}`;

function appDir(): string {
  return join(cacheDir(), 'apicurio', REGISTRY.version);
}

/** The Apicurio driver. */
export const registryDriver: ServiceDriver = {
  name: 'registry',
  ports: [REGISTRY.httpPort, REGISTRY.managementPort],
  healthTimeoutMs: HEALTH_TIMEOUT_MS.registry,
  stopGraceMs: 10_000,

  installs: 'Apicurio Registry from Maven Central, and a Java 21+ runtime from PyPI if none is installed (≈20–60 s)',
  installed: () => installedOnce(appDir()),

  async install(ctx: RunContext): Promise<void> {
    await installOnce(appDir(), async () => {
      await copyArtifact(
        `io.apicurio:apicurio-registry-app:${REGISTRY.version}:tar.gz:all`,
        appDir(),
        ctx.installLog,
      );
      const archive = readdirSync(appDir()).find((f) => f.endsWith('.tar.gz'));
      if (archive === undefined) throw new Error(`no archive in ${appDir()} after mvn copy`);
      await runCommand('tar', ['-xzf', archive], { cwd: appDir(), logFile: ctx.installLog });
      rmSync(join(appDir(), archive));
      // The archive also sits in the Maven repo; once unpacked it is dead weight (160 MB).
      rmSync(join(cacheDir(), 'maven', 'repo', 'io', 'apicurio', 'apicurio-registry-app', REGISTRY.version), {
        recursive: true,
        force: true,
      });
      return REGISTRY.version;
    });
    await ensureJava(REGISTRY.javaMin, ctx.installLog);
  },

  async start(ctx: RunContext): Promise<Started> {
    const java = await ensureJava(REGISTRY.javaMin, ctx.installLog);
    mkdirSync(join(ctx.runDir, 'tmp'), { recursive: true });
    const pid = spawnLogged({
      cmd: java,
      args: [
        REGISTRY.heap,
        '-XX:+UseSerialGC',
        `-Djava.io.tmpdir=${join(ctx.runDir, 'tmp')}`,
        '-Dquarkus.http.host=127.0.0.1',
        `-Dquarkus.http.port=${REGISTRY.httpPort}`,
        '-Dquarkus.management.host=127.0.0.1',
        `-Dquarkus.management.port=${REGISTRY.managementPort}`,
        '-Dquarkus.otel.sdk.disabled=true',
        '-Dquarkus.log.console.json=false',
        '-jar',
        join(appDir(), 'quarkus-run.jar'),
      ],
      cwd: ctx.runDir,
      logFile: ctx.logFile,
      detached: true,
    });
    return { pid };
  },

  async healthy(): Promise<boolean> {
    return httpOk(`${BASE}${REGISTRY.ccompatPath}/subjects`);
  },

  env(): ServiceEnv {
    return { CF_SCHEMA_REGISTRY_URL: `${BASE}${REGISTRY.ccompatPath}` };
  },
};
