/**
 * The domain gate as an out-of-domain detector: a default-preset captioner trained on the
 * project's synthetic scenes (tests/bench/domain-gate-model.ts), its gate fitted on the train
 * split and calibrated at the 99th percentile of the val split; then held-out synthetic scenes
 * (the test split, never fitted or calibrated on, plus fresh scenes from another seed) against
 * real photos from Debian's wallpaper packages (tests/bench/photos.ts). Positives are photos;
 * prints precision, recall, false-positive rate and ROC AUC at the calibrated threshold, and the
 * score's cost as a ratio to the encoder run it rides on.
 *
 * Usage: npx tsx tests/bench/domain-gate.ts [count=800] [epochs=6] [config=default]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { embedAll, fitBundleDomainGate, type ImageLoader } from '../../app/models/domain-gate.ts';
import { OnnxCaptioner } from '../../processors/inference/captioner.ts';
import { detectorFigures, mahalanobis, percentile, rocAuc } from '../../processors/inference/domain-gate.ts';
import { parseModelBundle } from '../../processors/inference/model-bundle.ts';
import { generateScene } from '../../processors/synthetic/index.ts';
import { benchModel } from './domain-gate-model.ts';
import { loadLine } from './harness.ts';
import { benchPhotos } from './photos.ts';

const [count = '800', epochs = '6', config = 'default'] = process.argv.slice(2);
const model = await benchModel(Number(count), Number(epochs), config === 'tiny' ? 'tiny' : 'default');
const files = new Map<string, Uint8Array>();
for (const name of ['encoder.onnx', 'decoder.onnx', 'model.json', 'tokenizer.json']) files.set(name, new Uint8Array(await readFile(join(model.export, name))));
const manifest = JSON.parse(await readFile(model.manifest, 'utf8')) as { items: { split: string; image: string }[] };
const split = (s: string): ImageLoader[] => manifest.items.filter((i) => i.split === s).map((i) => async () => new Uint8Array(await readFile(i.image)));

const gate = await fitBundleDomainGate(files, { train: split('train'), validation: split('val') });
const captioner = await OnnxCaptioner.create(parseModelBundle(files));
const heldOutTest = await embedAll(captioner, split('test'));
const sVal = mahalanobis(gate, await embedAll(captioner, split('val')));
const fresh: ImageLoader[] = Array.from({ length: 200 }, (_, i) => async () => (await generateScene(5_000_000 + i, { size: 64 })).image);
const heldOutFresh = await embedAll(captioner, fresh);
const photoSet = await benchPhotos({ min: 50 });
const photos = await embedAll(captioner, photoSet.photos.map((p) => () => Promise.resolve(new Uint8Array(p.bytes))), 8);

const sTest = mahalanobis(gate, heldOutTest);
const sFresh = mahalanobis(gate, heldOutFresh);
const sPhotos = mahalanobis(gate, photos);
const inDomain = [...sTest, ...sFresh];
const line = (name: string, neg: readonly number[]): string => {
  const f = detectorFigures(neg, sPhotos, gate.threshold);
  return `${name.padEnd(36)} n=${String(neg.length).padStart(3)} vs ${sPhotos.length} photos  precision ${f.precision.toFixed(3)}  recall ${f.recall.toFixed(3)}  FPR ${f.falsePositiveRate.toFixed(3)}  AUC ${rocAuc(neg, sPhotos).toFixed(3)}  (tp ${f.tp} fp ${f.fp} fn ${f.fn} tn ${f.tn})`;
};

// Cost: the score (pool + D x D product) against the encoder run, same images, same process.
const batch = await Promise.all(split('test').slice(0, 32).map((l) => l()));
const t0 = performance.now();
const rows = await captioner.embed(batch);
const t1 = performance.now();
for (let r = 0; r < 10; r++) mahalanobis(gate, rows);
const t2 = performance.now();
await captioner.close();

console.log(`domain gate bench — ${config} preset, ${count} scenes (${manifest.items.filter((i) => i.split === 'train').length} train / ${manifest.items.filter((i) => i.split === 'val').length} val / ${heldOutTest.count} test), ${epochs} epochs; ${loadLine()}`);
console.log(`gate: Mahalanobis, Ledoit-Wolf shrinkage ${gate.info.shrinkage.toFixed(3)}, D=${gate.dim}, threshold ${gate.threshold.toFixed(2)} = p${gate.info.percentile} of ${gate.info.calibrationCount} val scores`);
console.log(photoSet.summary);
console.log(line('held-out test split', sTest));
console.log(line('fresh scenes (seed 5000000+)', sFresh));
console.log(line('all held-out synthetic', inDomain));
for (const q of [90, 95, 99]) {
  const f = detectorFigures(inDomain, sPhotos, percentile(sVal, q));
  console.log(`  threshold at val p${q} (${percentile(sVal, q).toFixed(2)}): precision ${f.precision.toFixed(3)}  recall ${f.recall.toFixed(3)}  FPR ${f.falsePositiveRate.toFixed(3)}`);
}
const med = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
console.log(`median score: held-out synthetic ${med(inDomain).toFixed(2)}, photos ${med(sPhotos).toFixed(2)}`);
console.log(`score cost / encoder cost (32 images): ${((t2 - t1) / 10 / (t1 - t0)).toFixed(4)}`);
