import sharp from 'sharp';
import { createRandom, mix32 } from './random.ts';
import type { SceneBackground, SceneGraph, SceneObject } from './scene-graph.ts';
import { COLOUR_RGB } from './vocabulary.ts';

/** What {@link renderScene} needs to know about the output image. */
export interface RenderOptions {
  readonly width: number;
  readonly height: number;
  readonly format: 'png' | 'jpeg';
  readonly jpegQuality: number;
}

// Luminance noise of 'noise' backgrounds: light, so shapes keep crisp edges.
const NOISE_AMPLITUDE = 20;
// Separates the pixel-noise stream from the scene-graph stream of the same seed.
const NOISE_STREAM = 0x5eed_f00d;

/**
 * Draw a scene graph and encode it. The background is computed pixel by pixel here (so that
 * noise is seeded and exact), the shapes are an SVG overlay rasterized by sharp (librsvg,
 * anti-aliased). Same graph and options → byte-identical output with the same sharp build.
 */
export async function renderScene(graph: SceneGraph, options: RenderOptions): Promise<Uint8Array> {
  const { width, height } = options;
  const background = renderBackground(graph.background, width, height, graph.seed);
  const svg = shapesSvg(graph.objects, width, height);
  const pipeline = sharp(background, { raw: { width, height, channels: 3 } }).composite([
    { input: Buffer.from(svg), top: 0, left: 0 },
  ]);
  const encoded =
    options.format === 'png'
      ? await pipeline.png().toBuffer()
      : await pipeline.jpeg({ quality: options.jpegQuality }).toBuffer();
  // A copy owns its ArrayBuffer, so callers can transfer it to another thread.
  return new Uint8Array(encoded);
}

function renderBackground(bg: SceneBackground, width: number, height: number, seed: number): Uint8Array {
  const pixels = new Uint8Array(width * height * 3);
  const [c1, c2] = [parseHex(bg.colours[0]), parseHex(bg.colours[1])];
  const period = Math.max(4, Math.round(bg.period * Math.min(width, height)));
  const noise = createRandom(mix32(seed ^ NOISE_STREAM));
  const along = (x: number, y: number): number =>
    bg.orientation === 'horizontal' ? y : bg.orientation === 'vertical' ? x : x + y;
  const alongMax =
    bg.orientation === 'horizontal'
      ? height - 1
      : bg.orientation === 'vertical'
        ? width - 1
        : width + height - 2;

  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3;
      let rgb: readonly number[] = c1;
      switch (bg.kind) {
        case 'plain':
          break;
        case 'gradient': {
          const t = alongMax === 0 ? 0 : along(x, y) / alongMax;
          rgb = c1.map((v, i) => Math.round(v + ((c2[i] ?? v) - v) * t));
          break;
        }
        case 'stripes':
          rgb = Math.floor(along(x, y) / (period / 2)) % 2 === 0 ? c1 : c2;
          break;
        case 'checker':
          rgb = (Math.floor(x / period) + Math.floor(y / period)) % 2 === 0 ? c1 : c2;
          break;
        case 'noise': {
          const delta = Math.round((noise.next() * 2 - 1) * NOISE_AMPLITUDE);
          rgb = c1.map((v) => v + delta);
          break;
        }
      }
      pixels[at] = clampByte(rgb[0] ?? 0);
      pixels[at + 1] = clampByte(rgb[1] ?? 0);
      pixels[at + 2] = clampByte(rgb[2] ?? 0);
    }
  }
  return pixels;
}

function shapesSvg(objects: readonly SceneObject[], width: number, height: number): string {
  const unit = Math.min(width, height);
  const body = objects
    .map((o) => {
      const fill = `rgb(${COLOUR_RGB[o.colour].join(',')})`;
      return shapeElement(o.shape, o.x * width, o.y * height, o.radius * unit, fill);
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${body}</svg>`;
}

/** Every shape fits in the circle of radius `r` around (cx, cy), which the layout keeps apart. */
function shapeElement(shape: SceneObject['shape'], cx: number, cy: number, r: number, fill: string): string {
  switch (shape) {
    case 'circle':
      return `<circle cx="${f(cx)}" cy="${f(cy)}" r="${f(r * 0.92)}" fill="${fill}"/>`;
    case 'square': {
      const half = r * 0.72;
      return `<rect x="${f(cx - half)}" y="${f(cy - half)}" width="${f(2 * half)}" height="${f(2 * half)}" fill="${fill}"/>`;
    }
    case 'triangle':
      return polygon(regularPoints(cx, cy + r * 0.12, r, 3, -Math.PI / 2), fill);
    case 'star': {
      const outer = regularPoints(cx, cy, r, 5, -Math.PI / 2);
      const inner = regularPoints(cx, cy, r * 0.45, 5, -Math.PI / 2 + Math.PI / 5);
      return polygon(
        outer.flatMap((p, i) => [p, inner[i] ?? p]),
        fill,
      );
    }
    case 'diamond':
      return polygon(
        [
          [cx, cy - r],
          [cx + r * 0.7, cy],
          [cx, cy + r],
          [cx - r * 0.7, cy],
        ],
        fill,
      );
    case 'hexagon':
      return polygon(regularPoints(cx, cy, r * 0.95, 6, 0), fill);
  }
}

function regularPoints(cx: number, cy: number, r: number, sides: number, start: number): [number, number][] {
  return Array.from({ length: sides }, (_, i) => {
    const angle = start + (2 * Math.PI * i) / sides;
    return [cx + r * Math.cos(angle), cy + r * Math.sin(angle)];
  });
}

function polygon(points: readonly (readonly [number, number])[], fill: string): string {
  return `<polygon points="${points.map(([x, y]) => `${f(x)},${f(y)}`).join(' ')}" fill="${fill}"/>`;
}

function f(v: number): string {
  return v.toFixed(2);
}

function parseHex(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function clampByte(v: number): number {
  return Math.min(255, Math.max(0, v));
}
