/**
 * Benchmark: put/get throughput of the lake's object-store adapters against a bare baseline
 * measured in the same run, on the same objects (default 200 × 64 KiB):
 * - fs adapter vs `node:fs` writeFile/readFile, and vs the bare durable atomic write
 *   (temp file + fsync + rename + fsync dir) the adapter performs;
 * - s3 adapter vs the bare `minio` client (skipped without CF_S3_* env).
 * Each comparison alternates baseline and adapter for ROUNDS rounds and prints the median times
 * and the median of the per-round ratios (adapter / baseline), which holds up better than best-of
 * on a shared, loaded machine. Prints figures only; never asserts on them.
 *
 * Run: `npx tsx tests/bench/lake-throughput.ts [count] [sizeKiB] [rounds] [--rounds N]`
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'minio';
import { openFsObjectStore } from '../../runtime/lake/fs-object-store.ts';
import { readAll } from '../../runtime/lake/object-body.ts';
import { contentKey, type ObjectStore } from '../../runtime/lake/object-store.ts';
import { parseS3Endpoint, S3ObjectStore } from '../../runtime/lake/s3-object-store.ts';
import { formatSpread, loadLine, roundsArg, spread } from './harness.ts';

/** Positional arguments, `--rounds N` left out. */
const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--rounds') && all[i - 1] !== '--rounds');
const COUNT = Number(positional[0] ?? 200);
const SIZE = Number(positional[1] ?? 64) * 1024;
const ROUNDS = roundsArg(Number(positional[2] ?? 5));

interface Item {
  readonly key: string;
  readonly bytes: Buffer;
}

const items: Item[] = Array.from({ length: COUNT }, () => {
  const bytes = randomBytes(SIZE);
  return { key: contentKey('bronze', createHash('sha256').update(bytes).digest('hex'), 'bin'), bytes };
});
const totalMiB = (COUNT * SIZE) / (1024 * 1024);

/** One measured operation: `setup` (not timed) prepares fresh state, `run` is timed. */
interface Case {
  readonly label: string;
  readonly setup?: () => Promise<void>;
  readonly run: () => Promise<void>;
}

async function time(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function median(values: number[]): number {
  return spread(values).median;
}

function rate(ms: number): string {
  return `${(totalMiB / (ms / 1000)).toFixed(1).padStart(7)} MiB/s ${((COUNT / ms) * 1000).toFixed(0).padStart(6)} obj/s`;
}

/** Alternate baseline and candidates round by round; print medians and median per-round ratios. */
async function compare(title: string, baseline: Case, candidates: readonly Case[]): Promise<void> {
  const times = new Map<string, number[]>([
    [baseline.label, []],
    ...candidates.map((c): [string, number[]] => [c.label, []]),
  ]);
  const ratios = new Map<string, number[]>(candidates.map((c) => [c.label, []]));
  for (let r = 0; r < ROUNDS; r += 1) {
    await baseline.setup?.();
    const base = await time(baseline.run);
    times.get(baseline.label)?.push(base);
    for (const c of candidates) {
      await c.setup?.();
      const t = await time(c.run);
      times.get(c.label)?.push(t);
      ratios.get(c.label)?.push(t / base);
    }
  }
  process.stdout.write(`\n${title} (${loadLine()})\n`);
  const baseMs = median(times.get(baseline.label) ?? []);
  process.stdout.write(
    `  ${baseline.label.padEnd(42)} ${baseMs.toFixed(1).padStart(8)} ms ${rate(baseMs)}   (baseline)\n`,
  );
  for (const c of candidates) {
    const ms = median(times.get(c.label) ?? []);
    const ratio = spread(ratios.get(c.label) ?? []);
    process.stdout.write(
      `  ${c.label.padEnd(42)} ${ms.toFixed(1).padStart(8)} ms ${rate(ms)}   time ratio ${formatSpread(ratio, 2)}x (median [min–max] per round)\n`,
    );
  }
}

async function putAll(store: ObjectStore): Promise<void> {
  for (const it of items) await store.put(it.key, it.bytes, { contentType: 'application/octet-stream' });
}

async function getAll(store: ObjectStore): Promise<void> {
  for (const it of items) await store.get(it.key);
}

async function benchFs(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cf-bench-'));
  try {
    const bareDir = join(dir, 'bare');
    const resetBare = async (): Promise<void> => {
      await rm(bareDir, { recursive: true, force: true });
      for (const it of items) await mkdir(join(bareDir, it.key, '..'), { recursive: true });
    };
    const durable = await openFsObjectStore({ root: join(dir, 'durable') });
    const fast = await openFsObjectStore({ root: join(dir, 'fast'), durable: false });
    const reset = (root: string) => (): Promise<void> =>
      rm(join(dir, root), { recursive: true, force: true });
    // Warm the JIT and the directory cache of both paths.
    await resetBare();
    await putAll(fast);

    await compare(
      `fs put: ${COUNT} x ${SIZE / 1024} KiB, sequential, median of ${ROUNDS}`,
      {
        label: 'node:fs writeFile',
        setup: resetBare,
        run: async () => {
          for (const it of items) await writeFile(join(bareDir, it.key), it.bytes);
        },
      },
      [
        { label: 'fs adapter put (durable: false)', setup: reset('fast'), run: () => putAll(fast) },
        { label: 'fs adapter put, same bytes again (no-op)', run: () => putAll(fast) },
      ],
    );
    await compare(
      `fs durable put: ${COUNT} x ${SIZE / 1024} KiB, sequential, median of ${ROUNDS}`,
      {
        label: 'node:fs tmp+fsync+rename+fsync dir',
        setup: resetBare,
        run: async () => {
          for (const it of items) {
            const path = join(bareDir, it.key);
            const tmp = `${path}.${randomUUID()}.tmp`;
            const h = await open(tmp, 'wx');
            await h.writeFile(it.bytes);
            await h.sync();
            await h.close();
            await rename(tmp, path);
            const d = await open(join(path, '..'), 'r');
            await d.sync();
            await d.close();
          }
        },
      },
      [
        {
          label: 'fs adapter put (durable, the default)',
          setup: reset('durable'),
          run: () => putAll(durable),
        },
      ],
    );
    await resetBare();
    for (const it of items) await writeFile(join(bareDir, it.key), it.bytes);
    await compare(
      `fs get: ${COUNT} x ${SIZE / 1024} KiB, sequential, median of ${ROUNDS}`,
      {
        label: 'node:fs readFile',
        run: async () => {
          for (const it of items) await readFile(join(bareDir, it.key));
        },
      },
      [{ label: 'fs adapter get', run: () => getAll(fast) }],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchS3(): Promise<void> {
  const endpoint = process.env['CF_S3_ENDPOINT'];
  const accessKey = process.env['CF_S3_ACCESS_KEY'];
  const secretKey = process.env['CF_S3_SECRET_KEY'];
  if (endpoint === undefined || accessKey === undefined || secretKey === undefined) {
    process.stdout.write('\ns3: skipped (set CF_S3_ENDPOINT, CF_S3_ACCESS_KEY, CF_S3_SECRET_KEY)\n');
    return;
  }
  const region = process.env['CF_S3_REGION'] ?? 'us-east-1';
  const suffix = randomBytes(4).toString('hex');
  const bareBucket = `cf-bench-bare-${suffix}`;
  const store = new S3ObjectStore({
    endpoint,
    accessKey,
    secretKey,
    region,
    bucket: `cf-bench-lake-${suffix}`,
  });
  const { endPoint, port, useSSL } = parseS3Endpoint(endpoint);
  const client = new Client({ endPoint, port, useSSL, accessKey, secretKey, region, pathStyle: true });
  await client.makeBucket(bareBucket, region);
  const keys = items.map((i) => i.key);
  try {
    const clearBare = async (): Promise<void> => void (await client.removeObjects(bareBucket, keys));
    const clearLake = async (): Promise<void> => {
      for (const k of keys) await store.delete(k);
    };
    // Warm connections and JIT of both paths.
    await putAll(store);
    for (const it of items) await client.putObject(bareBucket, it.key, it.bytes, it.bytes.length);
    await compare(
      `s3 put (${endpoint}): ${COUNT} x ${SIZE / 1024} KiB, sequential, median of ${ROUNDS}`,
      {
        label: 'minio client putObject',
        setup: clearBare,
        run: async () => {
          for (const it of items)
            await client.putObject(bareBucket, it.key, it.bytes, it.bytes.length, {
              'Content-Type': 'application/octet-stream',
            });
        },
      },
      [
        { label: 's3 adapter put (head + put)', setup: clearLake, run: () => putAll(store) },
        { label: 's3 adapter put, same bytes again (head)', run: () => putAll(store) },
      ],
    );
    await compare(
      `s3 get: ${COUNT} x ${SIZE / 1024} KiB, sequential, median of ${ROUNDS}`,
      {
        label: 'minio client getObject',
        run: async () => {
          for (const it of items) await readAll(await client.getObject(bareBucket, it.key));
        },
      },
      [{ label: 's3 adapter get', run: () => getAll(store) }],
    );
  } finally {
    await store.destroyBucket();
    await store.close();
    await client.removeObjects(bareBucket, keys);
    await client.removeBucket(bareBucket);
  }
}

await benchFs();
await benchS3();
