/**
 * Real photographs for the image benchmarks, from Debian's wallpaper packages: large JPEG, PNG
 * and WebP files of the kind users upload, with licences that allow redistribution and no
 * download at run time beyond the Debian archive itself.
 *
 * The files are found under /usr/share/backgrounds and /usr/share/wallpapers (or the folder in
 * `CAPTIONFLOW_BENCH_PHOTOS_DIR`); the packages are installed with apt-get when too few are
 * there. When fewer distinct photos exist than asked for, crops and rescales of them make up
 * the number, and the returned set says how many are derived so the benchmark can print it.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { ensureDebianPackage } from '../../deploy/services/apt.ts';
import { sniffImageFormat } from '../../processors/image/sniff-format.ts';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';

/** Where Debian's wallpaper packages put their images. */
export const PHOTO_DIRS: readonly string[] = ['/usr/share/backgrounds', '/usr/share/wallpapers'];

/**
 * Debian packages that together ship more than 50 raster wallpapers of at least 100 KB
 * (bookworm: 16 WebP, 28 JPEG/PNG and 11 JPEG/PNG respectively).
 */
export const PHOTO_PACKAGES: readonly string[] = ['gnome-backgrounds', 'mate-backgrounds', 'ukui-wallpapers'];

/** One benchmark photo. */
export interface Photo {
  /** File path, or `<path>#<variant>` for a derived crop or rescale. */
  readonly name: string;
  readonly bytes: Buffer;
  readonly format: 'jpeg' | 'png' | 'webp';
  /** The photo this one was cropped or rescaled from; absent for an original file. */
  readonly derivedFrom?: string;
}

/** The photos found, and how they were obtained. */
export interface PhotoSet {
  readonly photos: readonly Photo[];
  /** Distinct original files (by content). */
  readonly distinct: number;
  /** Crops and rescales added to reach the minimum. */
  readonly derived: number;
  /** Packages this call installed. */
  readonly installed: readonly string[];
  /** One line saying what the set is, for the benchmark's output. */
  readonly summary: string;
}

/** Options of {@link benchPhotos}. */
export interface BenchPhotosOptions {
  /** How many photos to return at least (default 50). */
  readonly min?: number;
  /** Smallest file taken, in bytes (default 100 KB): thumbnails and icons are not photos. */
  readonly minBytes?: number;
  /** Install {@link PHOTO_PACKAGES} with apt-get when too few photos are found (default true). */
  readonly install?: boolean;
}

const RASTER = /\.(jpe?g|png|webp)$/i;

function walk(dir: string, seen: Set<string>): string[] {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return [];
  }
  // Wallpaper folders are full of symlinks (light/dark variants, theme aliases): never loop.
  if (seen.has(real)) return [];
  seen.add(real);
  const out: string[] = [];
  for (const name of readdirSync(real).sort()) {
    const path = join(real, name);
    let st;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    if (st.isDirectory()) out.push(...walk(path, seen));
    else if (st.isFile() && RASTER.test(name)) out.push(path);
  }
  return out;
}

function scan(dirs: readonly string[], minBytes: number): Photo[] {
  const seen = new Set<string>();
  const byHash = new Map<string, Photo>();
  for (const dir of dirs) {
    for (const path of walk(dir, seen)) {
      if (statSync(path).size < minBytes) continue;
      const bytes = readFileSync(path);
      const format = sniffImageFormat(bytes);
      if (format !== 'jpeg' && format !== 'png' && format !== 'webp') continue;
      const hash = createHash('sha256').update(bytes).digest('hex');
      if (!byHash.has(hash)) byHash.set(hash, { name: path, bytes, format });
    }
  }
  return [...byHash.values()];
}

async function installPackages(): Promise<string[]> {
  if (process.getuid?.() !== 0) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `too few photos under ${PHOTO_DIRS.join(' and ')}, and installing them needs root: run \`apt-get update && apt-get install -y ${PHOTO_PACKAGES.join(' ')}\` as root, or point CAPTIONFLOW_BENCH_PHOTOS_DIR at a folder of JPEG/PNG/WebP photos`,
    );
  }
  const installed: string[] = [];
  for (const pkg of PHOTO_PACKAGES) {
    const marker = `/usr/share/doc/${pkg}/copyright`;
    try {
      statSync(marker);
      continue;
    } catch {
      // not installed yet
    }
    console.error(`photos: installing Debian package ${pkg} (apt-get)…`);
    try {
      // Every Debian package ships its copyright file there, whatever its version's file list.
      await ensureDebianPackage(pkg, marker);
    } catch (err) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `could not install ${pkg} with apt-get (${(err as Error).message}); install ${PHOTO_PACKAGES.join(', ')} by hand (apt-get update first) or point CAPTIONFLOW_BENCH_PHOTOS_DIR at a folder of photos`,
        { cause: err, context: { pkg } },
      );
    }
    installed.push(pkg);
  }
  return installed;
}

/** Variants made of an original: centre crops and rescales, so every derived image is new content. */
const VARIANTS: readonly { name: string; crop: number; scale: number }[] = [
  { name: 'crop80', crop: 0.8, scale: 1 },
  { name: 'scale75', crop: 1, scale: 0.75 },
  { name: 'crop60', crop: 0.6, scale: 1 },
  { name: 'scale50', crop: 1, scale: 0.5 },
  { name: 'crop70-scale80', crop: 0.7, scale: 0.8 },
];

async function derive(original: Photo, variant: (typeof VARIANTS)[number]): Promise<Photo> {
  const meta = await sharp(original.bytes, { autoOrient: true }).metadata();
  const width = meta.autoOrient.width;
  const height = meta.autoOrient.height;
  const cw = Math.max(1, Math.round(width * variant.crop));
  const ch = Math.max(1, Math.round(height * variant.crop));
  const bytes = await sharp(original.bytes, { autoOrient: true })
    .extract({
      left: Math.floor((width - cw) / 2),
      top: Math.floor((height - ch) / 2),
      width: cw,
      height: ch,
    })
    .resize(Math.max(1, Math.round(cw * variant.scale)))
    .jpeg({ quality: 90 })
    .toBuffer();
  return { name: `${original.name}#${variant.name}`, bytes, format: 'jpeg', derivedFrom: original.name };
}

/**
 * At least `min` photos: the distinct raster wallpapers found (installing Debian's wallpaper
 * packages first when too few are there), topped up with crops and rescales of them.
 * @throws PipelineError CONFIG_INVALID with what to install when no photo can be found.
 */
export async function benchPhotos(options: BenchPhotosOptions = {}): Promise<PhotoSet> {
  const min = options.min ?? 50;
  const minBytes = options.minBytes ?? 100 * 1024;
  const override = process.env.CAPTIONFLOW_BENCH_PHOTOS_DIR;
  const dirs = override === undefined || override === '' ? PHOTO_DIRS : [override];
  let originals = scan(dirs, minBytes);
  let installed: string[] = [];
  if (originals.length < min && override === undefined && options.install !== false) {
    installed = await installPackages();
    originals = scan(dirs, minBytes);
  }
  if (originals.length === 0) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `no JPEG/PNG/WebP photo of at least ${Math.round(minBytes / 1024)} KB under ${dirs.join(', ')}: install ${PHOTO_PACKAGES.join(', ')} (apt-get update first) or set CAPTIONFLOW_BENCH_PHOTOS_DIR`,
      { context: { dirs, minBytes } },
    );
  }
  const photos: Photo[] = [...originals];
  const hashes = new Set(photos.map((p) => createHash('sha256').update(p.bytes).digest('hex')));
  for (let i = 0; photos.length < min && i < originals.length * VARIANTS.length; i++) {
    const made = await derive(originals[i % originals.length]!, VARIANTS[Math.floor(i / originals.length)]!);
    const hash = createHash('sha256').update(made.bytes).digest('hex');
    if (hashes.has(hash)) continue;
    hashes.add(hash);
    photos.push(made);
  }
  if (photos.length < min) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `only ${photos.length} photos could be found or derived, ${min} needed`,
      {
        context: { dirs, found: originals.length },
      },
    );
  }
  const derived = photos.length - originals.length;
  const bytes = photos.reduce((a, p) => a + p.bytes.byteLength, 0);
  const formats = new Map<string, number>();
  for (const p of photos) formats.set(p.format, (formats.get(p.format) ?? 0) + 1);
  const summary =
    `${photos.length} photos (${[...formats].map(([f, n]) => `${n} ${f}`).join(', ')}; ${(bytes / 2 ** 20).toFixed(1)} MiB) from ${dirs.join(', ')}` +
    (derived > 0
      ? `: ${originals.length} distinct files + ${derived} crops/rescales of them (too few distinct photos)`
      : `: all distinct files`) +
    (installed.length > 0 ? `; installed ${installed.join(', ')}` : '');
  return { photos, distinct: originals.length, derived, installed, summary };
}
