/**
 * Error codes of the bulk importer. `PipelineError` allows UPPER_SNAKE extension codes; these
 * are the importer's, kept here because `schemas/errors.ts` belongs to the contract owners.
 * They are stable: they appear in import summaries and logs.
 */
export const ImportErrorCodes = {
  /** A dataset path that leaves the images directory (`..`, absolute, or a symlink pointing outside). */
  PATH_OUTSIDE_ROOT: 'PATH_OUTSIDE_ROOT',
  /** A dataset path that cannot name a file at all (NUL byte, symlink loop). */
  PATH_INVALID: 'PATH_INVALID',
  /** The image file named by the dataset does not exist. */
  FILE_NOT_FOUND: 'FILE_NOT_FOUND',
  /** The image file exists but cannot be read as a regular file (permissions, directory, device, I/O error). */
  FILE_UNREADABLE: 'FILE_UNREADABLE',
  /** An annotation names an image id the file does not have (skipped, reported; refused with --strict). */
  UNKNOWN_IMAGE: 'IMPORT_UNKNOWN_IMAGE',
  /** An image id the file lists twice (the later entry is skipped, reported; refused with --strict). */
  DUPLICATE_IMAGE: 'IMPORT_DUPLICATE_IMAGE',
  /** A caption that is empty or only whitespace (skipped, reported; refused with --strict). */
  CAPTION_EMPTY: 'CAPTION_EMPTY',
  /** The annotations file is not JSON, or not the declared format (the message names the JSON path). */
  ANNOTATIONS_INVALID: 'IMPORT_ANNOTATIONS_INVALID',
} as const;

/** One of {@link ImportErrorCodes}. */
export type ImportErrorCode = (typeof ImportErrorCodes)[keyof typeof ImportErrorCodes];
