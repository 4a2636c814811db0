/**
 * Caption serving under load, four sides on the same model and the same images, in one run:
 *  (1) `captionflow serve` (POST /v1/captions, micro-batching on: the defaults, max batch 16);
 *  (2) the ceiling: a bare onnxruntime-node batched loop (serving-bare-worker.ts) on a Piscina
 *      pool of as many threads as the service has workers, the same preprocessing, no HTTP;
 *  (3) `captionflow serve` with micro-batching off (CAPTIONFLOW_SERVING_MAX_BATCH_SIZE=1);
 *  (4) the stack it replaces: FastAPI + onnxruntime (Python, PyPI) under uvicorn, one image per
 *      request, same preprocessing and greedy decoding (peers/fastapi_serving.py).
 * The service sides run the built JavaScript, as a production install does: the bench runs
 * `npm run build` first. Each HTTP side is its own process, loaded from this process over loopback by autocannon with
 * `c` connections (closed loop: a connection sends its next request when the last answers) and a
 * fixed number of requests, so nothing is left running when a measurement ends. The bare loop
 * keeps `c` images in flight the same way. Prints throughput (images/s) and p50/p99 latency at
 * c = 1, 8, 32, and the ratios (1)/(2), (1)/(3), (1)/(4) and the p99s at c = 32; the sides run
 * interleaved for `--rounds N` rounds (median [min–max]).
 * Run: `npm run bench -- serving [--rounds N]` (CAPTIONFLOW_BENCH_TRITON=1: side (1') too; CAPTIONFLOW_BENCH_FULL=1: more requests, 3
 * rounds; CAPTIONFLOW_BENCH_MODEL=tiny: the tests' tiny trained export instead of the
 * serving-size model of serving-model.ts). Not part of `npm test`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { openApp } from '../../app/app.ts';
import { trainDepsOf } from '../../app/jobs/standard-jobs.ts';
import { loadConfig } from '../../runtime/config.ts';
import { promoteIfBetter, registerModel } from '../../runtime/lake/model-registry.ts';
import { createLogger } from '../../runtime/logger.ts';
import { PiscinaPool } from '../../runtime/workers/piscina-pool.ts';
import { multipartBody } from '../integration/serving/serving-fixture.ts';
import { cachedVenv } from '../fixtures/python-venv.ts';
import { runCommand } from '../fixtures/run-command.ts';
import { FULL, Samples, formatRate, formatSpread, loadLine, ratios, roundsArg, spread } from './harness.ts';
import { benchPhotos } from './photos.ts';
import type { BareTask } from './serving-bare-worker.ts';
import { benchModel } from './serving-model.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The service runs as production runs it: the built JavaScript (the bench builds it first), not tsx. */
const BUILT_CLI = join(ROOT, 'dist', 'app', 'cli', 'main.js');
const BARE_WORKER = new URL('./serving-bare-worker.ts', import.meta.url);
const PEER = fileURLToPath(new URL('./peers/fastapi_serving.py', import.meta.url));
const CORES = availableParallelism();
const ROUNDS = roundsArg(FULL ? 3 : 1);
const CONCURRENCY = [1, 8, 32] as const;
/**
 * Requests per measurement at each concurrency. The full sizes give each connection 30-48
 * requests, so a run measures the steady state: the service's first requests leave alone (a lone
 * request does not wait for company) and its last batch is partial, which at 6 requests per
 * connection (the earlier full size) weighed a fifth of the run.
 */
const REQUESTS: Record<(typeof CONCURRENCY)[number], number> = FULL
  ? { 1: 48, 8: 384, 32: 960 }
  : { 1: 8, 8: 32, 32: 96 };
/** The service's batch limit with batching on (the default of `serving.maxBatchSize`). */
const MAX_BATCH = 16;
const API_KEY = 'bench-key';
/** Longest side of an uploaded photo: what a phone app sends after its own resize. */
const UPLOAD_SIDE = 640;

/** The Python peer's venv: pinned, cached under ~/.cache/captionflow, created from PyPI on first use. */
const PEER_REQUIREMENTS = [
  'fastapi==0.165.0',
  'uvicorn==0.55.0',
  'python-multipart==0.0.34',
  'onnxruntime==1.30.0',
  'numpy==2.4.6',
  'pillow==13.0.0',
];

/**
 * `CAPTIONFLOW_BENCH_TRITON=1` (or `--triton` when run directly): one more side, (1') the service on Triton's batching rule (`serving.fillWait` 0: a
 * batch leaves when its oldest image has waited `maxQueueDelayMs`), to see what the fill wait
 * does under the same load.
 */
const TRITON = process.env.CAPTIONFLOW_BENCH_TRITON === '1' || process.argv.includes('--triton');

type Side = 'service' | 'triton' | 'bare' | 'unbatched' | 'fastapi';
const SIDES: readonly Side[] = TRITON
  ? ['service', 'triton', 'bare', 'unbatched', 'fastapi']
  : ['service', 'bare', 'unbatched', 'fastapi'];
const LABEL: Record<Side, string> = {
  service: `(1) captionflow serve, micro-batching (max ${MAX_BATCH})`,
  triton: "(1') the same, Triton's rule (fill wait 0)",
  bare: '(2) bare onnxruntime-node batched loop',
  unbatched: '(3) captionflow serve, batching off (max 1)',
  fastapi: '(4) FastAPI + onnxruntime (Python) / uvicorn',
};

/** One measurement. */
interface Measured {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly failed: number;
  /** CPU time the side's process spent per answered image, in ms (all its threads). */
  readonly cpuMs: number;
  /** Where the server's CPU went per image (HTTP sides). */
  readonly split?: { main: number; workers: number; other: number };
  /** CPU the load generator (autocannon, in this process) spent per image, in ms (HTTP sides). */
  readonly loaderMs?: number;
  /** The service's batches (captionflow sides): count, mean size, histogram. */
  readonly batches?: { count: number; mean: number; text: string };
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const TICKS = 100;

/** CPU seconds (user + system) of a /proc stat line. */
function statCpu(stat: string): number {
  // Fields after the command (which may hold spaces), counted from field 3: utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** CPU seconds (user + system, all threads) a process has used so far. */
async function processCpu(pid: number): Promise<number> {
  return statCpu(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** CPU seconds of each thread of a process so far, by thread id (threads that ended are gone). */
async function threadCpu(pid: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    try {
      out.set(Number(tid), statCpu(await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8')));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/**
 * Where a server process's CPU went between two {@link threadCpu} snapshots, in CPU ms per image:
 * its main thread (HTTP, multipart, JSON, batching), its `workers` busiest other threads (Node
 * names every thread "node", so the worker threads are told apart by their CPU: they run the
 * preprocessing and the model) and the rest (libvips and libuv pools, V8's GC and compiler).
 */
function cpuSplit(
  pid: number,
  before: ReadonlyMap<number, number>,
  after: ReadonlyMap<number, number>,
  workers: number,
  images: number,
): { main: number; workers: number; other: number } {
  const deltas = [...after].map(([tid, s]) => ({ tid, ms: (s - (before.get(tid) ?? 0)) * 1000 }));
  const main = deltas.find((d) => d.tid === pid)?.ms ?? 0;
  const rest = deltas.filter((d) => d.tid !== pid).sort((a, b) => b.ms - a.ms);
  const busiest = rest.slice(0, workers).reduce((a, d) => a + d.ms, 0);
  const other = rest.slice(workers).reduce((a, d) => a + d.ms, 0);
  const per = Math.max(1, images);
  return { main: main / per, workers: busiest / per, other: other / per };
}

/** Cumulative counts of `captionflow_serving_batch_size` by upper bound, with its sum and count. */
interface BatchSizes {
  readonly buckets: Map<string, number>;
  readonly sum: number;
  readonly count: number;
}

async function batchSizes(server: Server): Promise<BatchSizes> {
  const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const buckets = new Map<string, number>();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('captionflow_serving_batch_size')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (line.startsWith('captionflow_serving_batch_size_bucket') && le !== undefined)
      buckets.set(le, (buckets.get(le) ?? 0) + value);
    else if (line.startsWith('captionflow_serving_batch_size_sum')) sum += value;
    else if (line.startsWith('captionflow_serving_batch_size_count')) count += value;
  }
  return { buckets, sum, count };
}

/** The batches run between two snapshots: how many, their mean size and how many fell in each bucket (`≤1:0 ≤2:1 …`). */
function batchHistogram(before: BatchSizes, after: BatchSizes): { count: number; mean: number; text: string } {
  const count = after.count - before.count;
  const mean = count === 0 ? 0 : (after.sum - before.sum) / count;
  let below = 0;
  const parts: string[] = [];
  for (const [le, n] of after.buckets) {
    const cumulative = n - (before.buckets.get(le) ?? 0);
    if (cumulative - below > 0) parts.push(`${le === '+Inf' ? '>64' : `≤${le}`}:${cumulative - below}`);
    below = cumulative;
  }
  return { count, mean, text: parts.join(' ') };
}

async function peerPython(): Promise<{ python: string; versions: string }> {
  const venv = await cachedVenv({
    name: 'venv-serving-peer',
    requirements: PEER_REQUIREMENTS,
    probe:
      'import fastapi, uvicorn, onnxruntime, PIL; print("fastapi", fastapi.__version__, "uvicorn", uvicorn.__version__, "onnxruntime", onnxruntime.__version__)',
  });
  if ('skip' in venv) throw new Error(venv.skip);
  return venv;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A data folder with the bundle registered and promoted to `champion`, for `captionflow serve`. */
async function servingDataDir(bundleDir: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cf-serving-bench-'));
  const config = loadConfig({ env: {}, overrides: { dataDir: dir, logLevel: 'warn', 'workers.size': 1 } });
  const app = await openApp(config, { logger: createLogger({ level: 'warn', destination: process.stderr }) });
  try {
    const files = new Map<string, Uint8Array>();
    for (const name of await readdir(bundleDir))
      files.set(name, new Uint8Array(await readFile(join(bundleDir, name))));
    const producer = await app.log.producer();
    try {
      const deps = trainDepsOf(app, producer);
      const { id } = await registerModel(deps, {
        name: app.config.models.name,
        files,
        format: 'captionflow-onnx',
        datasetId: 'bench',
      });
      const decision = await promoteIfBetter(
        deps,
        app.config.models.name,
        { version: id, metrics: { ciderD: 1 } },
        null,
        { metric: 'ciderD', margin: 0 },
      );
      if (!decision.promoted) throw new Error(`could not promote the bench model: ${decision.reason}`);
    } finally {
      await producer.close();
    }
  } finally {
    await app.close();
  }
  return dir;
}

/** A server process of one side. */
interface Server {
  readonly url: string;
  readonly path: string;
  readonly field: string;
  readonly child: ChildProcess;
  readonly log: string;
  readonly dir?: string;
  /** Threads that run the model (service workers; the peer's onnxruntime threads). */
  readonly workers: number;
  /** A captionflow service: its /metrics has the batch-size histogram. */
  readonly batching: boolean;
}

async function waitHttp(url: string, child: ChildProcess, log: string): Promise<void> {
  const until = Date.now() + 180_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`server exited (${String(child.exitCode)}); see ${log}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000) });
      return;
    } catch {
      await sleep(300);
    }
  }
  throw new Error(`server at ${url} did not answer within 180 s; see ${log}`);
}

async function startServe(bundleDir: string, maxBatch: number, env: Record<string, string> = {}): Promise<Server> {
  const dir = await servingDataDir(bundleDir);
  const port = await freePort();
  const log = join(dir, 'serve.log');
  const out = createWriteStream(log);
  const child = spawn(process.execPath, [BUILT_CLI, 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      CAPTIONFLOW_MODE: 'embedded',
      CAPTIONFLOW_DATA_DIR: dir,
      CAPTIONFLOW_HTTP_HOST: '127.0.0.1',
      CAPTIONFLOW_HTTP_PORT: String(port),
      CAPTIONFLOW_API_KEYS: API_KEY,
      CAPTIONFLOW_WORKERS: String(CORES),
      CAPTIONFLOW_LOG_LEVEL: 'warn',
      CAPTIONFLOW_SERVING_MAX_BATCH_SIZE: String(maxBatch),
      CAPTIONFLOW_SERVING_REQUEST_TIMEOUT_MS: '120000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`, child, log);
  return { url, path: '/v1/captions', field: 'image', child, log, dir, workers: CORES, batching: true };
}

async function startPeer(python: string, bundleDir: string): Promise<Server> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'cf-serving-peer-'));
  const log = join(dir, 'peer.log');
  const out = createWriteStream(log);
  const child = spawn(python, [PEER, bundleDir, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/docs`, child, log);
  return { url, path: '/api/v1/model/predict-caption', field: 'image', child, log, dir, workers: CORES, batching: false };
}

async function stop(server: Server): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) {
    const exited = new Promise((res) => server.child.once('exit', res));
    server.child.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  }
  if (server.dir !== undefined && process.env.CF_KEEP_BENCH_LOGS === undefined)
    await rm(server.dir, { recursive: true, force: true });
}

/** One multipart body per image (the same bytes every side gets). */
function bodies(images: readonly Buffer[]): { body: Buffer; contentType: string }[] {
  return images.map((img) => multipartBody([img]));
}

/** `amount` requests with `c` connections; checks the first answer is a caption. */
async function loadHttp(
  server: Server,
  images: readonly Buffer[],
  c: number,
  amount: number,
): Promise<Measured> {
  const requests = bodies(images).map(({ body, contentType }) => ({
    method: 'POST' as const,
    path: server.path,
    headers: { 'content-type': contentType, 'x-api-key': API_KEY },
    body,
  }));
  const pid = server.child.pid!;
  const sizes0 = server.batching ? await batchSizes(server) : undefined;
  const threads0 = await threadCpu(pid);
  const cpu0 = await processCpu(pid);
  const loader0 = process.cpuUsage();
  const started = performance.now();
  const instance = autocannon({
    url: server.url,
    connections: c,
    amount,
    timeout: 300,
    requests,
  });
  // autocannon ends a run on its next 1-second sampling tick after the last answer: time the run
  // to its last answer instead, or every rate is cut by up to a second's worth.
  let last = started;
  instance.on('response', () => {
    last = performance.now();
  });
  const result = await instance;
  const seconds = (last - started) / 1000;
  const loader = process.cpuUsage(loader0);
  const cpu = (await processCpu(pid)) - cpu0;
  const threads1 = await threadCpu(pid);
  const sizes1 = server.batching ? await batchSizes(server) : undefined;
  const ok = result['2xx'];
  return {
    rate: ok / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.non2xx + result.errors + result.timeouts,
    cpuMs: (cpu * 1000) / Math.max(1, ok),
    split: cpuSplit(pid, threads0, threads1, server.workers, ok),
    loaderMs: (loader.user + loader.system) / 1000 / Math.max(1, ok),
    ...(sizes0 === undefined || sizes1 === undefined ? {} : { batches: batchHistogram(sizes0, sizes1) }),
  };
}

/** Send one image to a server and check the answer is a caption. */
async function checkCaption(server: Server, image: Buffer): Promise<string> {
  const { body, contentType } = multipartBody([image]);
  const res = await fetch(`${server.url}${server.path}`, {
    method: 'POST',
    headers: { 'content-type': contentType, 'x-api-key': API_KEY },
    body,
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${server.url}${server.path}: ${res.status} ${text.slice(0, 300)}`);
  const json = JSON.parse(text) as { caption?: string; results?: { ok: boolean; caption?: string }[] };
  const caption = json.caption ?? (json.results?.[0]?.ok === true ? json.results[0].caption : undefined);
  if (caption === undefined)
    throw new Error(`${server.url}${server.path}: no caption in ${text.slice(0, 300)}`);
  return caption;
}

/**
 * The bare loop at concurrency `c`: `c` images in flight as `k` batches (at least one per pool
 * thread while `c` allows, at most MAX_BATCH images each); a batch's images are answered when it
 * ends. Latency of an image: from its batch's submission to the batch's end.
 */
async function loadBare(
  pool: PiscinaPool,
  bundleDir: string,
  images: readonly Buffer[],
  c: number,
  amount: number,
): Promise<Measured> {
  const batches = Math.max(Math.min(c, pool.size), Math.ceil(c / MAX_BATCH));
  const per = Math.ceil(c / batches);
  const latencies: number[] = [];
  let sent = 0;
  let next = 0;
  const threads0 = await threadCpu(process.pid);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: batches }, async () => {
      while (sent < amount) {
        const n = Math.min(per, amount - sent);
        sent += n;
        const batch = Array.from({ length: n }, () => new Uint8Array(images[next++ % images.length]!));
        const t0 = performance.now();
        await pool.run<BareTask, number[]>(BARE_WORKER, { bundleDir, intraOpThreads: 1, images: batch });
        const ms = performance.now() - t0;
        for (let i = 0; i < n; i++) latencies.push(ms);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const threads1 = await threadCpu(process.pid);
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
  return {
    rate: latencies.length / seconds,
    p50: pct(50),
    p99: pct(99),
    failed: 0,
    cpuMs: (cpu.user + cpu.system) / 1000 / latencies.length,
    split: cpuSplit(process.pid, threads0, threads1, pool.size, latencies.length),
  };
}

/** `npm run build`, so the service sides run this checkout's code compiled. */
async function build(): Promise<void> {
  const built = await runCommand('npm', ['run', '-s', 'build'], { cwd: ROOT });
  if (built.code !== 0) throw new Error(`npm run build failed (exit ${String(built.code)}):\n${built.stderr.slice(-3000)}`);
}

async function main(): Promise<void> {
  console.error('serving bench: building dist/ (the service sides run the built JavaScript)…');
  await build();
  const model = await benchModel();
  const photos = await benchPhotos({ min: FULL ? 32 : 16 });
  const images = await Promise.all(
    photos.photos
      .slice(0, FULL ? 32 : 16)
      .map((p) =>
        sharp(p.bytes, { autoOrient: true })
          .resize(UPLOAD_SIDE, UPLOAD_SIDE, { fit: 'inside', withoutEnlargement: true })
          .jpeg({ quality: 85 })
          .toBuffer(),
      ),
  );
  const kib = images.reduce((a, b) => a + b.byteLength, 0) / images.length / 1024;
  const peer = await peerPython();
  console.log(`model: ${model.summary}`);
  console.log(
    `images: ${images.length} of ${photos.summary} re-encoded as JPEG q85 at most ${UPLOAD_SIDE} px (mean ${kib.toFixed(0)} KiB), every side the same bytes`,
  );
  console.log(
    `cores: ${CORES}; service: ${CORES} workers x 1 intra-op thread, max queue delay ${process.env.CAPTIONFLOW_SERVING_MAX_QUEUE_DELAY_MS ?? 5} ms, fill wait ${process.env.CAPTIONFLOW_SERVING_FILL_WAIT ?? 0.25}; bare loop: ${CORES} threads x 1; peer: ${peer.versions}, 1 uvicorn worker, onnxruntime's default intra-op threads`,
  );

  const servers: Partial<Record<Side, Server>> = {};
  const pool = new PiscinaPool({ size: CORES });
  try {
    const started = await Promise.all([
      startServe(model.dir, MAX_BATCH),
      startServe(model.dir, 1),
      startPeer(peer.python, model.dir),
      TRITON ? startServe(model.dir, MAX_BATCH, { CAPTIONFLOW_SERVING_FILL_WAIT: '0' }) : undefined,
    ]);
    [servers.service, servers.unbatched, servers.fastapi] = started;
    if (started[3] !== undefined) servers.triton = started[3];
    const http: Partial<Record<Side, Server>> = {
      service: servers.service,
      unbatched: servers.unbatched,
      fastapi: servers.fastapi,
      ...(servers.triton === undefined ? {} : { triton: servers.triton }),
    };
    // Warm-up: every side loads its model and answers a caption before any timing.
    for (const server of Object.values(http)) await checkCaption(server, images[0]!);
    for (const server of Object.values(http)) await loadHttp(server, images, 8, 16);
    await loadBare(pool, model.dir, images, 8, 16);

    const samples = new Samples();
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of CONCURRENCY) {
        for (const side of SIDES) {
          const m =
            side === 'bare'
              ? await loadBare(pool, model.dir, images, c, REQUESTS[c])
              : await loadHttp(http[side]!, images, c, REQUESTS[c]);
          samples.add(`${side}@${c}:rate`, m.rate);
          samples.add(`${side}@${c}:p50`, m.p50);
          samples.add(`${side}@${c}:p99`, m.p99);
          samples.add(`${side}@${c}:failed`, m.failed);
          samples.add(`${side}@${c}:cpu`, m.cpuMs);
          if (m.split !== undefined) {
            samples.add(`${side}@${c}:main`, m.split.main);
            samples.add(`${side}@${c}:workers`, m.split.workers);
            samples.add(`${side}@${c}:other`, m.split.other);
          }
          if (m.loaderMs !== undefined) samples.add(`${side}@${c}:loader`, m.loaderMs);
          if (m.batches !== undefined) samples.add(`${side}@${c}:batch`, m.batches.mean);
          const split =
            m.split === undefined
              ? ''
              : ` [main ${m.split.main.toFixed(1)}, ${CORES} busiest threads ${m.split.workers.toFixed(1)}, other ${m.split.other.toFixed(1)}${m.loaderMs === undefined ? '' : `; load generator ${m.loaderMs.toFixed(1)}`}]`;
          const batches =
            m.batches === undefined
              ? ''
              : `; ${m.batches.count} batches, mean ${m.batches.mean.toFixed(1)} (${m.batches.text})`;
          console.error(
            `round ${round + 1}/${ROUNDS} c=${c} ${side}: ${formatRate(m.rate)} images/s, p50 ${m.p50.toFixed(0)} ms, p99 ${m.p99.toFixed(0)} ms, ${m.cpuMs.toFixed(0)} CPU ms/image${split}${batches} (${loadLine()})`,
          );
        }
      }
    }

    console.log(
      `\n## caption serving (${ROUNDS === 1 ? '1 round' : `median [min–max] of ${ROUNDS} interleaved rounds`}; ${loadLine()})`,
    );
    const ms = (v: number): string => v.toFixed(0);
    for (const c of CONCURRENCY) {
      console.log(`\nc = ${c} (${REQUESTS[c]} requests of one image each)`);
      for (const side of SIDES) {
        const rate = formatSpread(spread(samples.get(`${side}@${c}:rate`)), 0, formatRate);
        const p50 = formatSpread(spread(samples.get(`${side}@${c}:p50`)), 0, ms);
        const p99 = formatSpread(spread(samples.get(`${side}@${c}:p99`)), 0, ms);
        const cpu = formatSpread(spread(samples.get(`${side}@${c}:cpu`)), 0, ms);
        const failed = samples.get(`${side}@${c}:failed`).reduce((a, b) => a + b, 0);
        const one = (name: string, digits = 1): string =>
          formatSpread(spread(samples.get(`${side}@${c}:${name}`)), digits, (v) => v.toFixed(digits));
        const split = samples.has(`${side}@${c}:main`)
          ? `  (main ${one('main')}, workers ${one('workers')}, other ${one('other')}${samples.has(`${side}@${c}:loader`) ? `; load generator ${one('loader')}` : ''})`
          : '';
        const batch = samples.has(`${side}@${c}:batch`) ? `  mean batch ${one('batch')}` : '';
        console.log(
          `${LABEL[side].padEnd(48)} ${rate.padStart(9)} images/s  p50 ${p50} ms  p99 ${p99} ms  CPU ${cpu} ms/image${split}${batch}${failed > 0 ? `  FAILED ${failed}` : ''}`,
        );
      }
      const ratio = (other: Side): string =>
        formatSpread(spread(ratios(samples.get(`service@${c}:rate`), samples.get(`${other}@${c}:rate`))));
      // CPU per image: the other side's over the service's, so > 1 means the service spends less.
      const cpuRatio = (other: Side): string =>
        formatSpread(spread(ratios(samples.get(`${other}@${c}:cpu`), samples.get(`service@${c}:cpu`))));
      console.log(
        `throughput ratios: (1)/(2) ${ratio('bare')}  (1)/(3) ${ratio('unbatched')}  (1)/(4) ${ratio('fastapi')}${TRITON ? `  (1)/(1') ${ratio('triton')}` : ''}`,
      );
      console.log(
        `CPU-per-image ratios (other/service): (2) ${cpuRatio('bare')}  (3) ${cpuRatio('unbatched')}  (4) ${cpuRatio('fastapi')}${TRITON ? `  (1') ${cpuRatio('triton')}` : ''}`,
      );
    }
    const p99 = (side: Side): string => formatSpread(spread(samples.get(`${side}@32:p99`)), 0, ms);
    console.log(
      `\nat c = 32: p99 (1) ${p99('service')} ms, (2) ${p99('bare')} ms, (3) ${p99('unbatched')} ms, (4) ${p99('fastapi')} ms${TRITON ? `, (1') ${p99('triton')} ms` : ''}`,
    );
    console.log('targets at c = 32: (1)/(2) >= 0.85, (1)/(3) >= 2, (1)/(4) >= 2 with a lower p99 than (4)');
    console.log(`(${loadLine()} at the end)`);
  } finally {
    await pool.close();
    await Promise.all(Object.values(servers).map((s) => stop(s)));
  }
}

await main();
