/**
 * Parsers of the captioning dataset formats the bulk importer reads. Each turns the decoded
 * annotations JSON into a list of {@link ImportItem}s; the importer resolves their paths inside
 * the images directory and feeds them to the ingest door.
 */
import { z } from 'zod';
import { PipelineError } from '../../schemas/errors.ts';
import { ImportErrorCodes } from './import-codes.ts';

/** The dataset formats the importer reads. */
export const DATASET_FORMATS = ['coco', 'karpathy'] as const;

/** One of {@link DATASET_FORMATS}. */
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** One image of a dataset, ready to be read and ingested. */
export interface ImportItem {
  /** The dataset's id of the image (COCO `id`, Karpathy `imgid`) as a string: with the batch id it makes the event id. */
  readonly externalId: string;
  /** Path of the image file relative to the images directory, as the dataset spells it (POSIX separators). */
  readonly relativePath: string;
  /** Reference captions, in the dataset's order. */
  readonly captions: readonly string[];
  /** The dataset's own split, when it has one (captionflow assigns its own split by content hash). */
  readonly split?: string;
  /** Kept on the `image.ingested` event: `datasetFormat`, `datasetImageId`, `datasetPath`, and `datasetSplit` etc. when known. */
  readonly attributes: Readonly<Record<string, string>>;
}

/** A broken annotation that was skipped: where (its JSON path and index) and why (a stable code). */
export interface AnnotationProblem {
  /** JSON path, e.g. `annotations[12].caption`. */
  readonly path: string;
  /** Index in its array (`annotations[12]` → 12). */
  readonly index: number;
  readonly code: string;
  readonly message: string;
}

/** How parsing treats broken annotations: skip and report them (default), or refuse the file. */
export interface ParseOptions {
  /** Refuse the whole file on any broken annotation (`--strict`). */
  readonly strict?: boolean;
}

/** A parsed, validated dataset. */
export interface ParsedDataset {
  readonly format: DatasetFormat;
  /** The dataset's name when the file says it (Karpathy `dataset`), else null. */
  readonly name: string | null;
  /** How many images (= items) the dataset has. */
  readonly count: number;
  /** Broken annotations skipped (an unknown image id, a duplicate image, an empty caption), in file order. */
  readonly problems: readonly AnnotationProblem[];
  /** The images, in file order; a fresh iteration on every call. */
  items(): Generator<ImportItem, void, undefined>;
}

const datasetId = z.union([z.number().int().nonnegative(), z.string().min(1)], {
  error: 'expected a non-negative integer or a non-empty string',
});

const cocoSchema = z.object({
  images: z.array(
    z.object({
      id: datasetId,
      file_name: z.string().min(1),
      width: z.number().int().positive().optional(),
      height: z.number().int().positive().optional(),
    }),
  ),
  annotations: z.array(z.object({ id: datasetId, image_id: datasetId, caption: z.string() })),
});

const karpathySchema = z.object({
  images: z.array(
    z.object({
      filepath: z.string().optional(),
      filename: z.string().min(1),
      imgid: z.number().int().nonnegative(),
      split: z.enum(['train', 'val', 'test', 'restval']),
      // `tokens` is not used (captions are re-tokenized downstream), so it may be absent.
      sentences: z.array(z.object({ raw: z.string(), tokens: z.array(z.string()).optional() })),
      cocoid: z.number().int().nonnegative().optional(),
    }),
  ),
  dataset: z.string().min(1),
});

/** The largest number of validation issues quoted in one error: enough to see a pattern, short enough to read. */
const MAX_QUOTED_ISSUES = 5;

/** `images[3].file_name` from zod's path segments. */
function jsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? '(root)' : out;
}

function invalid(where: string, problems: readonly { path: string; message: string }[]): PipelineError {
  const total = problems.length;
  const quoted = problems.slice(0, MAX_QUOTED_ISSUES).map((p) => `${p.path}: ${p.message}`);
  const more = total > quoted.length ? `; and ${total - quoted.length} more` : '';
  return new PipelineError(ImportErrorCodes.ANNOTATIONS_INVALID, `${where}: ${quoted.join('; ')}${more}`, {
    context: { file: where, issues: problems.slice(0, MAX_QUOTED_ISSUES) },
  });
}

/** Throw the problems under `--strict`; return them otherwise. */
function settle(problems: AnnotationProblem[], where: string, options: ParseOptions): AnnotationProblem[] {
  if (options.strict === true && problems.length > 0) throw invalid(where, problems);
  return problems;
}

const isBlank = (text: string): boolean => text.trim() === '';

function validate<T>(schema: z.ZodType<T>, json: unknown, where: string): T {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  throw invalid(
    where,
    result.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })),
  );
}

/**
 * Parse a COCO captions file (`captions_train2014.json` and the like): `images` with `id` and
 * `file_name`, `annotations` with `image_id` and `caption`. Other top-level keys (`info`,
 * `licenses`) are ignored. Images without annotations become items with no captions.
 * @param where Named in error messages (the file path).
 * Broken annotations (an unknown image id, a duplicate image id, an empty caption) are skipped
 * and listed in `problems`, each by its JSON path, index and code; `strict` refuses the file.
 * @throws PipelineError `IMPORT_ANNOTATIONS_INVALID` naming the JSON path of each problem
 *   (wrong types; under `strict`, any broken annotation).
 */
export function parseCocoCaptions(json: unknown, where = 'annotations', options: ParseOptions = {}): ParsedDataset {
  const data = validate(cocoSchema, json, where);
  const captions = new Map<string, string[]>();
  const problems: AnnotationProblem[] = [];
  const skippedImages = new Set<number>();
  data.images.forEach((img, i) => {
    const id = String(img.id);
    if (captions.has(id)) {
      problems.push({ path: `images[${i}].id`, index: i, code: ImportErrorCodes.DUPLICATE_IMAGE, message: `duplicate image id ${JSON.stringify(img.id)} (the first one is kept)` });
      skippedImages.add(i);
    } else captions.set(id, []);
  });
  data.annotations.forEach((a, i) => {
    const list = captions.get(String(a.image_id));
    if (list === undefined) problems.push({ path: `annotations[${i}].image_id`, index: i, code: ImportErrorCodes.UNKNOWN_IMAGE, message: `no image has id ${JSON.stringify(a.image_id)}` });
    else if (isBlank(a.caption)) problems.push({ path: `annotations[${i}].caption`, index: i, code: ImportErrorCodes.CAPTION_EMPTY, message: 'the caption is empty' });
    else list.push(a.caption);
  });
  const images = data.images.filter((_img, i) => !skippedImages.has(i));
  return {
    format: 'coco',
    name: null,
    count: images.length,
    problems: settle(problems, where, options),
    *items() {
      for (const img of images) {
        const id = String(img.id);
        yield {
          externalId: id,
          relativePath: img.file_name,
          captions: captions.get(id) ?? [],
          attributes: { datasetFormat: 'coco', datasetImageId: id, datasetPath: img.file_name },
        };
      }
    },
  };
}

/**
 * Parse a Karpathy split file (`dataset_coco.json`, `dataset_flickr8k.json`,
 * `dataset_flickr30k.json`): `images` with `filename`, optional `filepath` (the image is at
 * `<imagesDir>/<filepath>/<filename>`), `imgid`, `split` and `sentences[].raw`. The dataset's
 * split is kept as the `datasetSplit` attribute, `cocoid` as `cocoId`.
 * @param where Named in error messages (the file path).
 * @throws PipelineError `IMPORT_ANNOTATIONS_INVALID` naming the JSON path of each problem.
 */
export function parseKarpathySplit(json: unknown, where = 'annotations', options: ParseOptions = {}): ParsedDataset {
  const data = validate(karpathySchema, json, where);
  const seen = new Set<number>();
  const problems: AnnotationProblem[] = [];
  const images: (typeof data.images)[number][] = [];
  data.images.forEach((img, i) => {
    if (seen.has(img.imgid)) {
      problems.push({ path: `images[${i}].imgid`, index: i, code: ImportErrorCodes.DUPLICATE_IMAGE, message: `duplicate imgid ${img.imgid} (the first one is kept)` });
      return;
    }
    seen.add(img.imgid);
    img.sentences.forEach((sentence, j) => {
      if (isBlank(sentence.raw)) problems.push({ path: `images[${i}].sentences[${j}].raw`, index: i, code: ImportErrorCodes.CAPTION_EMPTY, message: 'the caption is empty' });
    });
    images.push({ ...img, sentences: img.sentences.filter((sentence) => !isBlank(sentence.raw)) });
  });
  return {
    format: 'karpathy',
    name: data.dataset,
    count: images.length,
    problems: settle(problems, where, options),
    *items() {
      for (const img of images) {
        // path.join would normalise `..` away before the images-root check sees it; plain concatenation keeps it visible.
        const relativePath =
          img.filepath === undefined || img.filepath === ''
            ? img.filename
            : `${img.filepath.replace(/\/+$/, '')}/${img.filename}`;
        const id = String(img.imgid);
        yield {
          externalId: id,
          relativePath,
          captions: img.sentences.map((s) => s.raw),
          split: img.split,
          attributes: {
            datasetFormat: 'karpathy',
            dataset: data.dataset,
            datasetImageId: id,
            datasetPath: relativePath,
            datasetSplit: img.split,
            ...(img.cocoid === undefined ? {} : { cocoId: String(img.cocoid) }),
          },
        };
      }
    },
  };
}

/**
 * Parse annotations of the given format.
 * @throws PipelineError `IMPORT_ANNOTATIONS_INVALID`.
 */
export function parseDataset(format: DatasetFormat, json: unknown, where = 'annotations', options: ParseOptions = {}): ParsedDataset {
  return format === 'coco' ? parseCocoCaptions(json, where, options) : parseKarpathySplit(json, where, options);
}

/**
 * Decode annotations file bytes (strict UTF-8, a leading BOM allowed) as JSON.
 * @throws PipelineError `IMPORT_ANNOTATIONS_INVALID` when the bytes are not UTF-8 or not JSON.
 */
export function decodeAnnotations(bytes: Uint8Array, where = 'annotations'): unknown {
  let text: string;
  try {
    // Strict: a caption must never reach the lake with replacement characters in it.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new PipelineError(ImportErrorCodes.ANNOTATIONS_INVALID, `${where}: not valid UTF-8 text`, { context: { file: where }, cause: err });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new PipelineError(
      ImportErrorCodes.ANNOTATIONS_INVALID,
      `${where}: not valid JSON (${err instanceof Error ? err.message : String(err)})`,
      {
        context: { file: where },
        cause: err,
      },
    );
  }
}
