/**
 * S3 through SeaweedFS (Apache-2.0): `weed server` runs master, volume server, filer and the
 * S3 gateway in one process. The binary is built once from the Go module proxy and cached by
 * version. MinIO's server is AGPL, hence SeaweedFS.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'minio';
import { goBuild, goModDownload } from './go-build.ts';
import { cacheDir } from './paths.ts';
import { spawnLogged } from './processes.ts';
import { withLock } from './run-command.ts';
import type { RunContext, ServiceDriver, ServiceEnv, Started } from './service.ts';
import { HEALTH_TIMEOUT_MS, S3 } from './versions.ts';

const MASTER_TOML = `[master.volume_growth]
copy_1 = 1
copy_2 = 2
copy_3 = 3
copy_other = 1
`;

function binary(): string {
  return join(cacheDir(), 'seaweedfs', S3.version, 'weed');
}

function identities(): string {
  return JSON.stringify(
    {
      identities: [
        {
          name: 'captionflow',
          credentials: [{ accessKey: S3.accessKey, secretKey: S3.secretKey }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    },
    null,
    2,
  );
}

/** A client of the local S3 server (its health probe, and services that need a bucket before they start). */
export function s3Client(): Client {
  return new Client({
    endPoint: '127.0.0.1',
    port: S3.s3Port,
    useSSL: false,
    accessKey: S3.accessKey,
    secretKey: S3.secretKey,
    region: S3.region,
    pathStyle: true,
  });
}

/** The SeaweedFS driver. */
export const s3Driver: ServiceDriver = {
  name: 's3',
  ports: [
    S3.s3Port,
    S3.s3GrpcPort,
    S3.masterPort,
    S3.masterGrpcPort,
    S3.volumePort,
    S3.volumeGrpcPort,
    S3.filerPort,
    S3.filerGrpcPort,
  ],
  healthTimeoutMs: HEALTH_TIMEOUT_MS.s3,
  // `weed server` stops its volume server on SIGTERM but keeps master and filer running:
  // it needs the SIGKILL after the grace period anyway; its data is thrown away.
  stopGraceMs: 5_000,

  installs: 'SeaweedFS, built from the Go module proxy (≈5–8 min on 2 cores: the slowest install; no prebuilt S3 server is on the registries)',
  installed: () => existsSync(binary()),

  async install(ctx: RunContext): Promise<void> {
    if (existsSync(binary())) return;
    await withLock(join(cacheDir(), 'go.lock'), async () => {
      if (existsSync(binary())) return;
      // SeaweedFS's go.mod has a replace directive, which `go install pkg@version` refuses;
      // building inside the downloaded module (its own go.mod and go.sum) honours it.
      const src = await goModDownload(S3.module, S3.version, ctx.installLog);
      await goBuild(src, './weed', binary(), ctx.installLog);
    });
  },

  start(ctx: RunContext): Promise<Started> {
    const data = join(ctx.runDir, 'data');
    mkdirSync(data, { recursive: true });
    const config = join(ctx.runDir, 's3-identities.json');
    writeFileSync(config, identities());
    // Read from the working folder. Every bucket is a collection, and by default the master
    // grows 7 volumes for each new one: with a fresh bucket per test, that exhausts the volume
    // budget after a few tests. One volume per collection is plenty for test data.
    writeFileSync(join(ctx.runDir, 'master.toml'), MASTER_TOML);
    const pid = spawnLogged({
      cmd: binary(),
      args: [
        'server',
        '-ip=127.0.0.1',
        '-ip.bind=127.0.0.1',
        `-dir=${data}`,
        // Never phone home: the machine has no network but the registries, and tests must not try.
        '-master.telemetry=false',
        `-master.port=${S3.masterPort}`,
        `-master.port.grpc=${S3.masterGrpcPort}`,
        `-master.volumeSizeLimitMB=${S3.volumeSizeLimitMB}`,
        `-volume.port=${S3.volumePort}`,
        `-volume.port.grpc=${S3.volumeGrpcPort}`,
        `-volume.max=${S3.maxVolumes}`,
        '-volume.preStopSeconds=0',
        '-filer',
        `-filer.port=${S3.filerPort}`,
        `-filer.port.grpc=${S3.filerGrpcPort}`,
        `-filer.localSocket=${join(ctx.runDir, 'filer.sock')}`,
        '-s3',
        `-s3.port=${S3.s3Port}`,
        // Unset gRPC ports default to http port + 10000, outside our port block.
        `-s3.port.grpc=${S3.s3GrpcPort}`,
        `-s3.config=${config}`,
        `-s3.localSocket=${join(ctx.runDir, 's3.sock')}`,
        '-s3.port.iceberg=0',
        '-s3.port.lance=0',
      ],
      cwd: ctx.runDir,
      logFile: ctx.logFile,
      detached: true,
    });
    return Promise.resolve({ pid });
  },

  async healthy(): Promise<boolean> {
    // Listing answers as soon as the gateway is up, before a volume can take writes: a write
    // round trip proves that the whole chain (S3 → filer → master → volume) is ready.
    const c = s3Client();
    const bucket = 'captionflow-health';
    if (!(await c.bucketExists(bucket))) await c.makeBucket(bucket, S3.region);
    await c.putObject(bucket, 'probe', Buffer.from('ok'));
    await c.removeObject(bucket, 'probe');
    await c.removeBucket(bucket);
    return true;
  },

  afterStop(): void {
    // weed puts gRPC unix sockets in /tmp whatever -dir says, named by port; SIGKILL leaves them.
    for (const port of [S3.masterGrpcPort, S3.volumeGrpcPort, S3.filerGrpcPort, S3.s3GrpcPort]) {
      for (const role of ['master', 'volume', 'filer', 's3']) {
        rmSync(join(tmpdir(), `seaweedfs-${role}-grpc-${port}.sock`), { force: true });
      }
    }
  },

  env(): ServiceEnv {
    return {
      CF_S3_ENDPOINT: `http://127.0.0.1:${S3.s3Port}`,
      CF_S3_ACCESS_KEY: S3.accessKey,
      CF_S3_SECRET_KEY: S3.secretKey,
      CF_S3_REGION: S3.region,
    };
  },
};
