/**
 * Images/s through the normalize topology (memory log, Avro serde, fs object store + SQLite
 * catalog, a real Piscina pool of one thread per core) against a bare loop that hands the same
 * bytes to the same worker module on the same pool, so the ratio isolates what the topology,
 * the engine and the lake add around sharp. Also: 1 vs N worker threads, and libvips' own
 * thread count (`sharp.concurrency`) inside the workers.
 * The peer: the same work in Python with Pillow, numpy and imagehash on a process pool of one
 * process per core (tests/bench/peers/pillow_normalize.py, a venv from PyPI cached in
 * ~/.cache/captionflow), as the Python/Spark stack we replace would run it.
 * Run: `npx tsx tests/bench/normalize-throughput.ts [--rounds N]` (CAPTIONFLOW_BENCH_FULL=1: each photo 3 times, 3 rounds;
 * CAPTIONFLOW_BENCH_ONLY=topology runs the topology side alone, e.g. under `node --cpu-prof --import tsx`).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { resolveNormalizeOptions } from '../../processors/image/normalize-options.ts';
import type { NormalizeTask } from '../../processors/image/normalize-worker.ts';
import { systemClock } from '../../runtime/clock.ts';
import { runTopology } from '../../runtime/engine/runner.ts';
import { createMemoryLog } from '../../runtime/log/memory-log.ts';
import type { EventLog } from '../../runtime/ports.ts';
import { PiscinaPool } from '../../runtime/workers/piscina-pool.ts';
import { Topics } from '../../schemas/topics.ts';
import { ingestImage } from '../../topologies/ingest.ts';
import { normalizeTopology } from '../../topologies/normalize.ts';
import { tempLake } from '../topology/lake/harness.ts';
import { cachedVenv } from '../fixtures/python-venv.ts';
import { FULL, Samples, formatSpread, peakRssMiB, ratios, report, roundsArg, spread, type Row } from './harness.ts';
import { benchPhotos, type Photo } from './photos.ts';

const WORKER = new URL('../../processors/image/normalize-worker.ts', import.meta.url);
const CORES = availableParallelism();
/** Every variant runs this many times, interleaved: the machine is shared. */
const ROUNDS = roundsArg(FULL ? 3 : 2);
/** The application's defaults (96 px model input, 256 px thumbnail, WebP), not the tests' tiny sizes. */
const OPTIONS = resolveNormalizeOptions({ modelInput: { size: 96 } });
/** libvips' thread count as sharp set it on load (1 on glibc without jemalloc). */
const SHARP_DEFAULT = sharp.concurrency();
const SHARP_OTHER = SHARP_DEFAULT === CORES ? 1 : CORES;

/** One measured run: wall-clock seconds, and CPU seconds of the whole process (all threads). */
interface Run {
  readonly seconds: number;
  readonly cpu: number;
  /** Seconds the main thread's event loop was busy (the engine's share; sharp runs in the workers). */
  readonly mainBusy: number;
  readonly failed: number;
}

/**
 * Wall clock and process CPU time since the call. CPU time counts what the work cost whatever
 * else runs on the machine, so it steadies the comparison on a shared, busy machine.
 */
function stopwatch(): () => { seconds: number; cpu: number; mainBusy: number } {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  return () => {
    const used = process.cpuUsage(cpu);
    return {
      seconds: (performance.now() - wall) / 1000,
      cpu: (used.user + used.system) / 1e6,
      mainBusy: performance.eventLoopUtilization(elu).active / 1000,
    };
  };
}

function taskOf(photo: Photo): { task: NormalizeTask; transfer: ArrayBuffer[] } {
  const bytes = new Uint8Array(photo.bytes);
  return { task: { bytes, options: OPTIONS }, transfer: [bytes.buffer] };
}

/**
 * A pool whose threads all loaded tsx, sharp and the processor before any timing. Loading sharp
 * resets libvips' process-wide thread count, so it is set after the warm-up, from this thread
 * (libvips is one per process, shared by every worker thread).
 */
async function warmPool(size: number, sharpThreads: number, sample: Photo): Promise<PiscinaPool> {
  const pool = new PiscinaPool({ size });
  await Promise.all(
    Array.from({ length: size * 2 }, async () => {
      const { task, transfer } = taskOf(sample);
      await pool.run(WORKER, task, transfer);
    }),
  );
  sharp.concurrency(sharpThreads);
  return pool;
}

async function bare(
  photos: readonly Photo[],
  size: number,
  sharpThreads: number,
  sample: Photo,
): Promise<Run> {
  const pool = await warmPool(size, sharpThreads, sample);
  let failed = 0;
  try {
    const clock = stopwatch();
    // Every task is queued at once: the pool's threads are the only limit, as in the topology.
    await Promise.all(
      photos.map(async (p) => {
        const { task, transfer } = taskOf(p);
        try {
          await pool.run(WORKER, task, transfer);
        } catch {
          failed++;
        }
      }),
    );
    return { ...clock(), failed };
  } finally {
    await pool.close();
  }
}

async function total(log: EventLog, topic: string): Promise<number> {
  let n = 0;
  for (const end of (await log.endOffsets(topic)).values()) n += Number(end);
  return n;
}

async function topology(
  photos: readonly Photo[],
  size: number,
  sharpThreads: number,
  sample: Photo,
): Promise<Run> {
  const lake = await tempLake();
  const log = createMemoryLog({ pollIntervalMs: 5 });
  const lakeDeps = { ...lake.deps, normalize: OPTIONS };
  try {
    // Everything is ingested (bronze objects + image.ingested) before the clock starts.
    const producer = await log.producer();
    const deps = {
      objects: lakeDeps.objects,
      bucket: lakeDeps.bucket,
      producer,
      serde: lake.serde,
      clock: systemClock,
      maxBytes: 25 * 2 ** 20,
    };
    for (const [i, p] of photos.entries()) {
      await ingestImage(deps, {
        bytes: p.bytes,
        source: 'bulk',
        producer: 'bench',
        filename: basename(p.name),
        externalId: `${p.name}#${i}`,
        captions: [{ text: `A desktop wallpaper called ${basename(p.name).replace(/\.\w+$/, '')}.` }],
      });
    }
    await producer.close();
    const pool = await warmPool(size, sharpThreads, sample);
    try {
      const clock = stopwatch();
      const running = await runTopology(normalizeTopology, { log, serde: lake.serde, deps: lakeDeps, pool });
      let out = 0;
      let failed = 0;
      const deadline = Date.now() + 10 * 60_000;
      while (out + failed < photos.length) {
        if (Date.now() > deadline)
          throw new Error(
            `normalize did not finish: ${out} normalized, ${failed} dead-lettered of ${photos.length}`,
          );
        await new Promise((r) => setTimeout(r, 10));
        out = await total(log, Topics.imageNormalized.name);
        failed = await total(log, normalizeTopology.deadLetterTopic);
      }
      const took = clock();
      await running.stop();
      return { ...took, failed };
    } finally {
      await pool.close();
    }
  } finally {
    await log.close();
    await lake.close();
  }
}

/** The Pillow peer's interpreter; its versions are printed, its absence is said and the peer left out. */
const PILLOW = await cachedVenv({
  name: 'venv-pillow-bench',
  requirements: ['pillow==12.1.1', 'numpy==2.4.6', 'imagehash==4.3.2'],
  probe: 'import PIL, numpy, imagehash; print("pillow", PIL.__version__, "numpy", numpy.__version__, "imagehash", imagehash.__version__)',
});
const PILLOW_SCRIPT = fileURLToPath(new URL('./peers/pillow_normalize.py', import.meta.url));
let photoDir: string | undefined;

/** One round of the Pillow peer on the same photos, in the same order; it times itself after warm-up. */
async function pillow(photos: readonly Photo[], size: number): Promise<Run> {
  if ('skip' in PILLOW) throw new Error(PILLOW.skip);
  if (photoDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'cf-pillow-'));
    const names = photos.map((p, i) => {
      const file = join(dir, `${String(i).padStart(4, '0')}.${p.format}`);
      writeFileSync(file, p.bytes);
      return file;
    });
    writeFileSync(join(dir, 'list.txt'), names.join('\n'));
    photoDir = dir;
  }
  const { stdout } = await promisify(execFile)(
    PILLOW.python,
    [
      PILLOW_SCRIPT,
      join(photoDir, 'list.txt'),
      '1',
      String(size),
      String(OPTIONS.modelInput.size),
      String(OPTIONS.thumbnail.maxSide),
      String(OPTIONS.analysisMaxSide),
      String(OPTIONS.encode.quality),
    ],
    { timeout: 30 * 60_000, maxBuffer: 2 ** 20 },
  );
  const out = JSON.parse(stdout) as { seconds: number[]; failed: number };
  return { seconds: out.seconds[0]!, cpu: Number.NaN, mainBusy: Number.NaN, failed: out.failed };
}

const set = await benchPhotos({ min: 50 });
// Largest first, on both sides: the long images are scheduled early and a run ends on small ones,
// so its tail is short and alike. FULL sends each photo REPEAT times in a row (as distinct events).
const REPEAT = FULL ? 3 : 1;
const photos = [...set.photos]
  .sort((a, b) => b.bytes.byteLength - a.bytes.byteLength)
  .flatMap((p) => Array.from({ length: REPEAT }, () => p));
const N = photos.length;
const sample = photos[photos.length - 1]!;
console.log(
  `photos: ${set.summary}; ${REPEAT > 1 ? `each sent ${REPEAT} times (as distinct events), ` : ''}largest first: ${N} images a run`,
);
console.log(
  `cores: ${CORES}; sharp.concurrency() default in this process: ${SHARP_DEFAULT}; normalize options: model input ${OPTIONS.modelInput.size} px ${OPTIONS.modelInput.fit}, thumbnail ${OPTIONS.thumbnail.maxSide} px, ${OPTIONS.encode.format} q${OPTIONS.encode.quality}`,
);

type Measure = (photos: readonly Photo[], size: number, sharpThreads: number, sample: Photo) => Promise<Run>;
interface Variant {
  readonly name: string;
  readonly fn: Measure;
  readonly size: number;
  readonly sharpThreads: number;
}
const BARE: Variant = {
  name: `bare pool, ${CORES} threads, sharp ${SHARP_DEFAULT} (baseline)`,
  fn: bare,
  size: CORES,
  sharpThreads: SHARP_DEFAULT,
};
const TOPO: Variant = {
  name: `normalize topology, ${CORES} threads, sharp ${SHARP_DEFAULT}`,
  fn: topology,
  size: CORES,
  sharpThreads: SHARP_DEFAULT,
};
const BARE_OTHER: Variant = {
  name: `bare pool, ${CORES} threads, sharp ${SHARP_OTHER}`,
  fn: bare,
  size: CORES,
  sharpThreads: SHARP_OTHER,
};
const TOPO_OTHER: Variant = {
  name: `normalize topology, ${CORES} threads, sharp ${SHARP_OTHER}`,
  fn: topology,
  size: CORES,
  sharpThreads: SHARP_OTHER,
};
const BARE1: Variant = {
  name: `bare pool, 1 thread, sharp ${SHARP_DEFAULT}`,
  fn: bare,
  size: 1,
  sharpThreads: SHARP_DEFAULT,
};
const TOPO1: Variant = {
  name: `normalize topology, 1 thread, sharp ${SHARP_DEFAULT}`,
  fn: topology,
  size: 1,
  sharpThreads: SHARP_DEFAULT,
};
const PEER: Variant = {
  name: `Pillow peer, ${CORES} processes (Python)`,
  fn: pillow,
  size: CORES,
  sharpThreads: SHARP_DEFAULT,
};
if ('skip' in PILLOW) console.log(`Pillow peer left out: ${PILLOW.skip}`);
else console.log(`Pillow peer: ${PILLOW.versions}`);
const ALL = [BARE, TOPO, BARE_OTHER, TOPO_OTHER, BARE1, TOPO1, ...('skip' in PILLOW ? [] : [PEER])];
// CAPTIONFLOW_BENCH_ONLY=topology (or bare) runs that side alone at the default sizes: for a clean profile.
const ONLY = process.env.CAPTIONFLOW_BENCH_ONLY;
const VARIANTS = ONLY === 'topology' ? [TOPO] : ONLY === 'bare' ? [BARE] : ONLY === 'pillow' ? [PEER] : ALL;

// Interleaved so that a neighbour's load hits every variant alike; median and spread of the rounds.
const seconds = new Samples();
const cpu = new Samples();
const mainBusy = new Samples();
const failures: string[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const v of VARIANTS) {
    const run = await v.fn(photos, v.size, v.sharpThreads, sample);
    if (run.failed > 0) failures.push(`${v.name}: ${run.failed} of ${N} images failed`);
    seconds.add(v.name, run.seconds);
    cpu.add(v.name, run.cpu);
    mainBusy.add(v.name, run.mainBusy);
  }
}
sharp.concurrency(SHARP_DEFAULT);
if (photoDir !== undefined) rmSync(photoDir, { recursive: true, force: true });

const cpuPer = (v: Variant): string => formatSpread(spread(cpu.get(v.name).map((c) => (c / N) * 1000)), 1);
const mainPer = (v: Variant): string => formatSpread(spread(mainBusy.get(v.name).map((c) => (c / N) * 1000)), 2);
if (VARIANTS !== ALL) {
  for (const v of VARIANTS) {
    const own = v === PEER ? '' : `; CPU ms/image ${cpuPer(v)}; main thread busy ms/image ${mainPer(v)}`;
    console.log(`${v.name}: ${formatSpread(spread(seconds.get(v.name).map((s) => N / s)), 2)} images/s${own}`);
  }
} else {
  const row = (v: Variant, baseline?: Variant): Row => ({
    name: v.name,
    count: N,
    seconds: seconds.get(v.name),
    unit: 'images',
    ...(baseline === undefined ? {} : { baseline: baseline.name }),
  });
  report(`normalize: topology vs bare sharp pool, ${N} images`, [
    row(BARE),
    row(TOPO, BARE),
    row(BARE_OTHER, BARE),
    row(TOPO_OTHER, BARE),
    ...(seconds.has(PEER.name) ? [row(PEER, BARE)] : []),
  ]);
  report(`normalize: 1 vs ${CORES} worker threads`, [row(BARE1), row(BARE, BARE1), row(TOPO1), row(TOPO, TOPO1)]);
  const rates = (v: Variant): number[] => seconds.get(v.name).map((s) => N / s);
  const ratio = (a: Variant, b: Variant): string => formatSpread(spread(ratios(rates(a), rates(b))));
  console.log(
    '\nms per image, median [min–max]: CPU of the process (all threads) | main thread busy (engine, lake, serde)',
  );
  for (const v of VARIANTS.filter((x) => x !== PEER))
    console.log(`  ${v.name.padEnd(48)} ${cpuPer(v).padStart(18)} | ${mainPer(v).padStart(18)}`);
  console.log(`\ntopology / bare, images/s per round (target >= 0.95): ${ratio(TOPO, BARE)}`);
  if (seconds.has(PEER.name)) console.log(`topology / Pillow peer, images/s per round: ${ratio(TOPO, PEER)}`);
  console.log(`scaling 1 -> ${CORES} threads: topology x${ratio(TOPO, TOPO1)}, bare x${ratio(BARE, BARE1)}`);
  console.log(
    `sharp.concurrency(${SHARP_OTHER}) vs sharp.concurrency(${SHARP_DEFAULT}) with ${CORES} worker threads: bare x${ratio(BARE_OTHER, BARE)}, topology x${ratio(TOPO_OTHER, TOPO)}`,
  );
}
console.log(`peak RSS (whole process, worker threads included): ${peakRssMiB().toFixed(0)} MiB`);
for (const f of failures) console.log(`FAILED: ${f}`);
