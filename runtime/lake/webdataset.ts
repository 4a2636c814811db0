/**
 * A dataset version as WebDataset tar shards (https://github.com/webdataset/webdataset), what
 * PyTorch `webdataset`, Hugging Face `datasets` ("webdataset" builder) and torchdata read. One
 * sample per image, its files sharing the key (the image id, no dots, so the reader's "key up to
 * the first dot" rule holds): `<id>.<ext>` the gold image as stored (webp by default), `<id>.txt`
 * its captions one per line, `<id>.json` its metadata (dataset, split, source, sha256, captions).
 *
 * Shards hold `shardSize` samples (webdataset's `maxcount`) in manifest order (by image id), so
 * shard `n` is known from the manifest alone: a client can fetch shards in any order and in
 * parallel, and the same version with the same size always gives byte-identical shards (every
 * entry's mtime is the version's creation time), so a shard's ETag is stable. Names are
 * `<prefix>-000000.tar`…, the brace pattern `<prefix>-{000000..000012}.tar` the readers expand.
 *
 * Streamed: a shard is written entry by entry with backpressure, each image piped from the object
 * store, so neither a shard nor an image is held in memory whole.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack, type Headers, type Pack } from 'tar-stream';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { Split } from '../catalog/catalog.ts';
import { contentHash } from '../catalog/canonical-json.ts';
import type { DatasetItem, DatasetManifest } from './datasets.ts';
import type { Lake } from './lake.ts';

/** Default samples per shard. */
export const DEFAULT_SHARD_SIZE = 1000;
/** The layout of a sample (files and their content); bumped when it changes, so ETags do. */
const SAMPLE_LAYOUT = 1;
/** Most samples per shard a caller may ask for. */
export const MAX_SHARD_SIZE = 100_000;

/** How to cut a version into shards. */
export interface WebDatasetOptions {
  /** Samples per shard (default {@link DEFAULT_SHARD_SIZE}). */
  readonly shardSize?: number;
  /** Only the items of this split (default all, each sample's split in its `.json`). */
  readonly split?: Split;
}

/** One shard of a plan. */
export interface WebDatasetShard {
  readonly index: number;
  /** `<prefix>-000000.tar`. */
  readonly name: string;
  readonly samples: number;
}

/** The shards of a version under some options. */
export interface WebDatasetPlan {
  readonly dataset: string;
  readonly prefix: string;
  readonly shardSize: number;
  readonly split: Split | null;
  readonly samples: number;
  /** `<prefix>-{000000..00000N}.tar` (null when there is no sample). */
  readonly pattern: string | null;
  readonly shards: readonly WebDatasetShard[];
  /**
   * Changes whenever the bytes of any shard would. The version id is already a hash of its name and
   * items, and a version's creation time (the entries' mtime) never changes, so hashing those with
   * the options is enough — no pass over a large manifest per request.
   */
  readonly etag: string;
}

function invalid(message: string, context: Record<string, unknown>): PipelineError {
  return new PipelineError(ErrorCodes.LAKE_QUERY_REJECTED, message, { context });
}

function itemsOf(manifest: DatasetManifest, split: Split | null): DatasetItem[] {
  // Manifests keep items by image id; sorting again keeps shards stable if one ever did not.
  const items = manifest.items.filter((i) => split === null || i.split === split);
  return [...items].sort((a, b) => (a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0));
}

const pad = (n: number): string => String(n).padStart(6, '0');

/** The shards `manifest` is cut into under `options`. */
export function webDatasetPlan(manifest: DatasetManifest, options: WebDatasetOptions = {}): WebDatasetPlan {
  const shardSize = options.shardSize ?? DEFAULT_SHARD_SIZE;
  if (!Number.isInteger(shardSize) || shardSize < 1 || shardSize > MAX_SHARD_SIZE)
    throw invalid(`shardSize must be an integer in 1..${MAX_SHARD_SIZE}, got ${shardSize}`, {
      field: 'shardSize',
      value: shardSize,
    });
  const split = options.split ?? null;
  const prefix = split === null ? manifest.id : `${manifest.id}-${split}`;
  const samples = itemsOf(manifest, split).length;
  const count = Math.ceil(samples / shardSize);
  const shards = Array.from({ length: count }, (_, index) => ({
    index,
    name: `${prefix}-${pad(index)}.tar`,
    samples: Math.min(shardSize, samples - index * shardSize),
  }));
  return {
    dataset: manifest.id,
    prefix,
    shardSize,
    split,
    samples,
    pattern:
      count === 0 ? null : count === 1 ? shards[0]!.name : `${prefix}-{${pad(0)}..${pad(count - 1)}}.tar`,
    shards,
    etag: contentHash({
      layout: SAMPLE_LAYOUT,
      id: manifest.id,
      createdAt: manifest.createdAt,
      shardSize,
      split,
    }).slice(0, 32),
  };
}

/** The shard index a name of `plan` stands for, or null. */
export function shardIndexOf(plan: WebDatasetPlan, name: string): number | null {
  const shard = plan.shards.find((s) => s.name === name);
  return shard === undefined ? null : shard.index;
}

/** The `.json` of a sample. */
function sampleMetadata(manifest: DatasetManifest, item: DatasetItem): Record<string, unknown> {
  return {
    imageId: item.imageId,
    dataset: manifest.id,
    datasetName: manifest.name,
    split: item.split,
    source: item.source,
    sha256: item.sha256,
    captions: item.captions.map((c) => ({ id: c.id, text: c.text, origin: c.origin })),
  };
}

function extensionOf(key: string): string {
  const base = key.slice(key.lastIndexOf('/') + 1);
  const dot = base.indexOf('.');
  return dot < 0 ? 'bin' : base.slice(dot + 1).toLowerCase();
}

/** Add one entry and resolve when tar-stream has taken all of it (the body streamed with backpressure). */
async function addEntry(pack: Pack, header: Headers, body: Buffer | Readable): Promise<void> {
  if (Buffer.isBuffer(body)) {
    await new Promise<void>((resolve, reject) =>
      pack.entry(header, body, (err) => (err ? reject(err) : resolve())),
    );
    return;
  }
  let sink!: Writable;
  const done = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
  await Promise.all([pipeline(body, sink), done]);
}

/** The `.txt` and `.json` of a sample (small: built ahead, so a shard's length is known before its images are read). */
function sampleTexts(manifest: DatasetManifest, item: DatasetItem): { txt: Buffer; json: Buffer } {
  return {
    txt: Buffer.from(`${item.captions.map((c) => c.text.replace(/[\r\n]+/g, ' ')).join('\n')}\n`, 'utf8'),
    json: Buffer.from(JSON.stringify(sampleMetadata(manifest, item)), 'utf8'),
  };
}

// USTAR: a 512-byte header per entry, the body padded to 512, two zero blocks at the end.
const tarEntryBytes = (size: number): number => 512 + Math.ceil(size / 512) * 512;

/** One shard of a version, ready to stream. */
export interface WebDatasetShardStream {
  readonly shard: WebDatasetShard;
  /** The exact length of the tar in bytes (for Content-Length). */
  readonly bytes: number;
  /** A stable ETag of the shard's bytes. */
  readonly etag: string;
  /** The tar bytes; the stream fails (never a short, well-formed tar) when an image is missing or its size differs from the manifest. */
  readonly body: Readable;
}

/** Shard `index` of `manifest` under `options`. The body starts reading images when consumed. */
export function webDatasetShard(
  lake: Lake,
  manifest: DatasetManifest,
  index: number,
  options: WebDatasetOptions = {},
): WebDatasetShardStream {
  const plan = webDatasetPlan(manifest, options);
  const shard = plan.shards[index];
  if (!Number.isInteger(index) || shard === undefined)
    throw new PipelineError(
      ErrorCodes.OBJECT_NOT_FOUND,
      `shard ${index} of ${manifest.id} not found (${plan.shards.length} shards)`,
      { context: { id: manifest.id, shard: index } },
    );
  const samples = itemsOf(manifest, plan.split)
    .slice(index * plan.shardSize, (index + 1) * plan.shardSize)
    .map((item) => ({ item, ...sampleTexts(manifest, item) }));
  const bytes = samples.reduce(
    (n, s) => n + tarEntryBytes(s.item.size) + tarEntryBytes(s.txt.length) + tarEntryBytes(s.json.length),
    1024,
  );
  const mtime = new Date(manifest.createdAt);
  const pack = tarPack();
  const write = async (): Promise<void> => {
    for (const { item, txt, json } of samples) {
      const file = (ext: string, size: number): Headers => ({
        name: `${item.imageId}.${ext}`,
        size,
        mtime,
        mode: 0o644,
        type: 'file',
      });
      await addEntry(pack, file(extensionOf(item.key), item.size), await lake.store.getStream(item.key));
      await addEntry(pack, file('txt', txt.length), txt);
      await addEntry(pack, file('json', json.length), json);
    }
    pack.finalize();
  };
  // Images are read only once the body is consumed. tar-stream packs into a streamx Readable; a
  // Node Readable over it keeps `pipe` and errors Node-shaped.
  const body = Readable.from(
    (async function* () {
      write().catch((err: unknown) => pack.destroy(err as Error));
      yield* pack;
    })(),
  );
  return { shard, bytes, etag: `"wds-${plan.etag}-${index}"`, body };
}

/** The outcome of {@link exportWebDataset}. */
export interface WebDatasetExport {
  readonly plan: WebDatasetPlan;
  /** The shard files written (absolute or as `outDir` was given). */
  readonly files: readonly string[];
}

/**
 * Write every shard of `manifest` into `outDir` (each to a temporary name, renamed when whole, so
 * a crash never leaves a truncated `.tar` behind). `onProgress` after each shard.
 */
export async function exportWebDataset(
  lake: Lake,
  manifest: DatasetManifest,
  outDir: string,
  options: WebDatasetOptions & { readonly onProgress?: (samplesDone: number, samples: number) => void } = {},
): Promise<WebDatasetExport> {
  const plan = webDatasetPlan(manifest, options);
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  let done = 0;
  for (const shard of plan.shards) {
    const path = join(outDir, shard.name);
    const partial = `${path}.partial`;
    try {
      await pipeline(webDatasetShard(lake, manifest, shard.index, options).body, createWriteStream(partial));
      await rename(partial, path);
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
    files.push(path);
    done += shard.samples;
    options.onProgress?.(done, plan.samples);
  }
  return { plan, files };
}
