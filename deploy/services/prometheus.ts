/**
 * Prometheus started for one test with the scrape config the test supplies, as a plain
 * process (Debian's package provides the binary; its system service is never used).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebianPackage } from './apt.ts';
import { perTestDir, startPerTest } from './per-test-process.ts';
import type { RunningServer } from './per-test-process.ts';
import { freePort, httpOk } from './processes.ts';
import { DEBIAN, HEALTH_TIMEOUT_MS } from './versions.ts';

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  /** The whole `prometheus.yml` (global settings and scrape_configs). */
  readonly configYaml: string;
}

/** Installs Prometheus if missing and returns its binary. */
export async function ensurePrometheus(): Promise<string> {
  return ensureDebianPackage(DEBIAN.prometheus.pkg, DEBIAN.prometheus.binary);
}

/** Starts Prometheus on a free 127.0.0.1 port with `configYaml` and waits until it is ready. */
export async function startPrometheus(opts: PrometheusOptions): Promise<RunningServer> {
  const bin = await ensurePrometheus();
  const dir = perTestDir('prometheus');
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, opts.configYaml);
  mkdirSync(join(dir, 'data'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  return startPerTest({
    name: 'prometheus',
    dir,
    cmd: bin,
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    url,
    probe: () => httpOk(`${url}/-/ready`),
    timeoutMs: HEALTH_TIMEOUT_MS.prometheus,
  });
}
