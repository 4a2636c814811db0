import type { SyntheticScene } from './generate.ts';

/** An image entry of a COCO captions file. */
export interface CocoImage {
  readonly id: number;
  readonly file_name: string;
  readonly width: number;
  readonly height: number;
}

/** A caption entry of a COCO captions file. */
export interface CocoCaptionAnnotation {
  readonly id: number;
  readonly image_id: number;
  readonly caption: string;
}

/** The subset of the COCO captions format (`captions_*.json`) the bulk importer reads. */
export interface CocoCaptionsDataset {
  readonly images: readonly CocoImage[];
  readonly annotations: readonly CocoCaptionAnnotation[];
}

/** Options of {@link toCocoCaptions}. */
export interface CocoCaptionsOptions {
  /** Id of the first image; the next ones follow (default 1). */
  readonly firstImageId?: number;
  /** Id of the first caption annotation; the next ones follow (default 1). */
  readonly firstAnnotationId?: number;
}

/** The parts of a scene a COCO entry needs. */
export type CocoSceneInput = Pick<SyntheticScene, 'id' | 'format' | 'width' | 'height' | 'captions'>;

/** The file name a scene's image is written under: its id and the format's extension. */
export function sceneFileName(scene: Pick<SyntheticScene, 'id' | 'format'>): string {
  return `${scene.id}.${scene.format === 'jpeg' ? 'jpg' : 'png'}`;
}

/**
 * Build a COCO-captions-style structure for scenes: one image per scene (file name from
 * {@link sceneFileName}, sequential ids) and one annotation per reference caption. Writing the
 * JSON and the image files is the caller's job.
 */
export function toCocoCaptions(
  scenes: Iterable<CocoSceneInput>,
  options: CocoCaptionsOptions = {},
): CocoCaptionsDataset {
  const images: CocoImage[] = [];
  const annotations: CocoCaptionAnnotation[] = [];
  let imageId = options.firstImageId ?? 1;
  let annotationId = options.firstAnnotationId ?? 1;
  for (const scene of scenes) {
    images.push({ id: imageId, file_name: sceneFileName(scene), width: scene.width, height: scene.height });
    for (const caption of scene.captions)
      annotations.push({ id: annotationId++, image_id: imageId, caption });
    imageId++;
  }
  return { images, annotations };
}
