/**
 * The ceiling of the serving benchmark, one worker thread's side: onnxruntime-node sessions on a
 * bundle folder and a plain batched greedy loop (the encoder once per batch, then the decoder each
 * step: on its KV cache when it has one — the new token of every row, the presents of the step
 * before as pasts — else on the whole prefix; argmax of the last position), after the same
 * preprocessing as the service (processors/inference/preprocess.ts). Rows that ended leave the
 * batch as in the service's greedy decoding (processors/inference/decoding.ts: once they are a
 * quarter of it, their cache rows dropped). No HTTP, no queue, no model host, no per-image error
 * handling, no scores: what the hardware gives for this model and batch.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseModelBundle } from '../../processors/inference/model-bundle.ts';
import type { CaptionModelBundle } from '../../processors/inference/bundle-types.ts';
import { preprocessImage, tensorSize } from '../../processors/inference/preprocess.ts';
import { gatherRows } from '../../processors/inference/captioner.ts';

/** One batch. */
export interface BareTask {
  readonly bundleDir: string;
  readonly intraOpThreads: number;
  readonly images: readonly Uint8Array[];
}

interface Loaded {
  readonly bundle: CaptionModelBundle;
  readonly encoder: ort.InferenceSession;
  readonly decoder: ort.InferenceSession;
}

let loaded: Promise<Loaded> | undefined;

async function load(task: BareTask): Promise<Loaded> {
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(task.bundleDir))
    files.set(name, new Uint8Array(readFileSync(join(task.bundleDir, name))));
  const bundle = parseModelBundle(files);
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: task.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  const encoder = await ort.InferenceSession.create(bundle.encoder, options);
  const decoder = await ort.InferenceSession.create(bundle.decoder, options);
  return { bundle, encoder, decoder };
}

/** Caption a batch; returns the token count of each caption. */
export default async function bareCaption(task: BareTask): Promise<number[]> {
  loaded ??= load(task);
  const { bundle, encoder, decoder } = await loaded;
  const spec = bundle.preprocess;
  const size = tensorSize(spec);
  const n = task.images.length;
  const pixels = new Float32Array(n * size);
  const tensors = await Promise.all(task.images.map((image) => preprocessImage(image, spec)));
  tensors.forEach((t, i) => pixels.set(t, i * size));
  let hidden = (
    await encoder.run({
      [bundle.io.pixelValues]: new ort.Tensor('float32', pixels, [n, 3, spec.height, spec.width]),
    })
  )[bundle.io.encoderOutput]!;
  const stop = new Set(bundle.tokens.stop);
  const maxLength = bundle.maxLength;
  const ids: bigint[][] = Array.from({ length: n }, () => [BigInt(bundle.tokens.decoderStart)]);
  const done = new Array<boolean>(n).fill(false);
  const lengths = new Array<number>(n).fill(0);
  // optimum's merged layout: past_key_values.* in, present.* out, use_cache_branch to switch.
  const pasts = decoder.inputNames.filter((name) => name.startsWith('past_key_values.'));
  const cached = decoder.inputNames.includes('use_cache_branch') && pasts.length > 0;
  let past: Record<string, ort.Tensor> | undefined;
  /** The rows (images) in the decoder batch; ended rows leave once they are a quarter of it. */
  let rows = Array.from({ length: n }, (_, i) => i);
  let ended = 0;
  for (let length = 1; length < maxLength && ended < rows.length; length++) {
    if (ended > 0 && ended * 4 >= rows.length) {
      const keep = rows.flatMap((r, at) => (done[r] ? [] : [at]));
      rows = keep.map((at) => rows[at]!);
      hidden = gatherRows(hidden, keep);
      if (past !== undefined) for (const name of Object.keys(past)) past[name] = gatherRows(past[name]!, keep);
      ended = 0;
    }
    const b = rows.length;
    const feeds: Record<string, ort.Tensor> = { [bundle.io.encoderHiddenStates]: hidden };
    if (cached && past !== undefined) {
      const last = new BigInt64Array(b);
      rows.forEach((r, at) => (last[at] = ids[r]![length - 1]!));
      feeds[bundle.io.inputIds] = new ort.Tensor('int64', last, [b, 1]);
      feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([1]), [1]);
      Object.assign(feeds, past);
    } else {
      const flat = new BigInt64Array(b * length);
      rows.forEach((r, at) => flat.set(ids[r]!, at * length));
      feeds[bundle.io.inputIds] = new ort.Tensor('int64', flat, [b, length]);
      if (cached) {
        feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([0]), [1]);
        for (const name of pasts) {
          const dims = decoder.inputMetadata[decoder.inputNames.indexOf(name)]!;
          const [, heads, , headDim] = (dims.isTensor ? dims.shape : []) as number[];
          feeds[name] = new ort.Tensor('float32', new Float32Array(0), [b, heads!, 0, headDim!]);
        }
      }
    }
    const wanted = [bundle.io.logits];
    // The cross-attention presents are computed on the first step only; later steps keep them.
    if (cached) wanted.push(...pasts.filter((p) => past === undefined || !p.includes('.encoder.')).map((p) => p.replace('past_key_values.', 'present.')));
    const out = await decoder.run(feeds, wanted);
    if (cached) {
      const next: Record<string, ort.Tensor> = { ...past };
      for (const name of pasts) {
        const present = out[name.replace('past_key_values.', 'present.')];
        if (present !== undefined) next[name] = present;
      }
      past = next;
    }
    const logits = out[bundle.io.logits]!;
    const vocab = logits.dims[2]!;
    const positions = logits.dims[1]!;
    const data = logits.data as Float32Array;
    rows.forEach((r, at) => {
      if (done[r]) {
        ids[r]!.push(BigInt(bundle.tokens.pad));
        return;
      }
      const base = (at * positions + positions - 1) * vocab;
      let best = 0;
      for (let v = 1; v < vocab; v++) if (data[base + v]! > data[base + best]!) best = v;
      ids[r]!.push(BigInt(best));
      if (stop.has(best)) {
        done[r] = true;
        ended++;
      } else lengths[r]!++;
    });
  }
  return lengths;
}
