/**
 * Parity of processors/metrics with pycocoevalcap (the reference implementation, from PyPI).
 *
 * The Python side gets captions already tokenized by our tokenizer and space-joined, so both
 * sides score identical tokens (pycocoevalcap's PTBTokenizer would need Java). The Python
 * environment comes from trainer/setup-venv.sh, which prints the venv's python as its last
 * stdout line; without that script this test fails (it never silently skips).
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runCommand, trainerPython } from '../../fixtures/run-command.ts';
import {
  corpusBleu,
  ciderD,
  evaluateCaptions,
  rougeL,
  tokenizeEvaluationSet,
} from '../../../processors/metrics/index.ts';
import { deriveSceneSeed, sampleScene } from '../../../processors/synthetic/index.ts';
import { createRandom } from '../../../processors/synthetic/random.ts';

const COCO_EVAL = fileURLToPath(new URL('./coco_eval.py', import.meta.url));
const TOLERANCE = 1e-3;

interface Case {
  readonly name: string;
  readonly gts: Record<string, string[]>;
  readonly res: Record<string, string>;
}

interface ReferenceScores {
  readonly ids: string[];
  readonly bleu: number[];
  readonly bleuPerImage: number[][];
  readonly rougeL: number;
  readonly rougeLPerImage: number[];
  readonly ciderD: number;
  readonly ciderDPerImage: number[];
}

async function referencePython(): Promise<string> {
  try {
    return await trainerPython();
  } catch (err) {
    // Missing or broken venv script: the parity check cannot run, which is a failure, not a skip.
    return assert.fail(`the metrics parity test needs the trainer venv with pycocoevalcap: ${(err as Error).message}`);
  }
}

/** ~50 images of synthetic references with hypotheses covering the edge cases. */
function syntheticCase(name: string, baseSeed: number, images: number): Case {
  const random = createRandom(baseSeed ^ 0xc0ffee);
  const scenes = Array.from({ length: images }, (_, i) => sampleScene(deriveSceneSeed(baseSeed, i)));
  const gts: Record<string, string[]> = {};
  const res: Record<string, string> = {};
  scenes.forEach((scene, i) => {
    const refs = [...scene.captions];
    // Vary the number of references (1..5) like real datasets do.
    const refCount = i % 7 === 3 ? 1 : i % 5 === 2 ? 3 : 5;
    const kept = refs.slice(0, refCount);
    const words = (refs[i % refs.length] ?? '').split(' ');
    const other = scenes[(i + 1) % scenes.length]?.captions[0] ?? '';
    const variants: string[] = [
      refs[(i + 1) % refs.length] ?? '', // exact copy of a reference
      words.filter((_, k) => k % 3 !== 1).join(' '), // words dropped
      words.map((w) => (w === scene.groups[0]?.colour ? 'green' : w)).join(' '), // colour swapped
      other, // another scene's caption
      'red red red circles circles circles', // repeated words
      `${refs[2] ?? ''} and ${refs[3] ?? ''} with many many more shapes`, // longer than every reference
      'a', // empty-ish
      '.', // tokenizes to nothing
      '', // empty
      random.shuffle(words).join(' '), // same words, wrong order
      scene.groups[0]?.shape ?? 'circle', // one word
      `${(refs[0] ?? '').toUpperCase()}!!  (really),`, // case and punctuation
    ];
    gts[scene.id] = kept;
    res[scene.id] = variants[i % variants.length] ?? '';
  });
  return { name, gts, res };
}

function cases(): Case[] {
  const main = syntheticCase('50 synthetic images', 2024, 50);
  const second = syntheticCase('40 synthetic images, another seed', 77, 40);
  // An empty reference next to an empty hypothesis: pycocoevalcap's split(' ') corner.
  const firstId = Object.keys(second.gts)[0] ?? 'x';
  second.gts[firstId] = ['', 'a red circle'];
  second.res[firstId] = '';
  const one = sampleScene(5);
  const two = sampleScene(6);
  return [
    main,
    second,
    { name: 'single image', gts: { [one.id]: [...one.captions] }, res: { [one.id]: one.captions[0] ?? '' } },
    {
      name: 'two images',
      gts: { [one.id]: [...one.captions], [two.id]: [...two.captions] },
      res: { [one.id]: 'a big red thing', [two.id]: two.captions[4] ?? '' },
    },
  ];
}

void test(
  'BLEU-1..4, ROUGE-L and CIDEr-D match pycocoevalcap within 1e-3',
  { timeout: 20 * 60_000 },
  async (t) => {
    const python = await referencePython();
    const all = cases();
    const tokenized = all.map((c) => tokenizeEvaluationSet(c.gts, c.res));
    const payload = {
      cases: tokenized.map(({ ids, samples }) => ({
        gts: Object.fromEntries(ids.map((id, i) => [id, samples[i]?.refs.map((r) => r.join(' ')) ?? []])),
        res: Object.fromEntries(ids.map((id, i) => [id, [samples[i]?.hyp.join(' ') ?? '']])),
      })),
    };
    const reference = await runCommand(python, [COCO_EVAL], { input: JSON.stringify(payload) });
    assert.equal(
      reference.code,
      0,
      `coco_eval.py failed (exit ${reference.code}):\n${reference.stderr.slice(-2000)}`,
    );
    const expected = JSON.parse(reference.stdout) as { version: string; cases: ReferenceScores[] };

    const maxDiff = { bleu1: 0, bleu2: 0, bleu3: 0, bleu4: 0, rougeL: 0, ciderD: 0, perImage: 0 };
    const track = (
      key: keyof typeof maxDiff,
      actual: number,
      wanted: number | undefined,
      where: string,
    ): void => {
      assert.ok(wanted !== undefined && Number.isFinite(actual), `${where}: missing or non-finite score`);
      const diff = Math.abs(actual - wanted);
      maxDiff[key] = Math.max(maxDiff[key], diff);
      assert.ok(diff <= TOLERANCE, `${where}: ours ${actual}, pycocoevalcap ${wanted}`);
    };

    all.forEach((c, index) => {
      const want = expected.cases[index];
      const set = tokenized[index];
      assert.ok(want !== undefined && set !== undefined);
      assert.deepEqual(want.ids, set.ids, `${c.name}: image order`);
      const ours = evaluateCaptions(c.gts, c.res);
      track('bleu1', ours.bleu1, want.bleu[0], `${c.name} BLEU-1`);
      track('bleu2', ours.bleu2, want.bleu[1], `${c.name} BLEU-2`);
      track('bleu3', ours.bleu3, want.bleu[2], `${c.name} BLEU-3`);
      track('bleu4', ours.bleu4, want.bleu[3], `${c.name} BLEU-4`);
      track('rougeL', ours.rougeL, want.rougeL, `${c.name} ROUGE-L`);
      track('ciderD', ours.ciderD, want.ciderD, `${c.name} CIDEr-D`);

      const bleu = corpusBleu(set.samples).perImage;
      const rouge = rougeL(set.samples).perImage;
      const cider = ciderD(set.samples).perImage;
      set.ids.forEach((id, i) => {
        for (let k = 0; k < 4; k++) {
          track(
            'perImage',
            bleu[k]?.[i] ?? Number.NaN,
            want.bleuPerImage[k]?.[i],
            `${c.name} ${id} BLEU-${k + 1}`,
          );
        }
        track('perImage', rouge[i] ?? Number.NaN, want.rougeLPerImage[i], `${c.name} ${id} ROUGE-L`);
        track('perImage', cider[i] ?? Number.NaN, want.ciderDPerImage[i], `${c.name} ${id} CIDEr-D`);
      });
    });
    t.diagnostic(`pycocoevalcap ${expected.version}; max |ours - reference|: ${JSON.stringify(maxDiff)}`);
  },
);
