/**
 * Compares the working tree's `.avsc` files with their committed versions, so a schema edit
 * that would break consumers fails a test before it is merged.
 *
 * The base revision is `CF_SCHEMA_BASE_REF` when set, else `git merge-base HEAD origin/main`
 * when there is an origin/main, else HEAD.
 */
import { execFileSync } from 'node:child_process';
import { relative } from 'node:path';
import { AVRO_SCHEMA_DIR, loadAvroSchemas, parseAvroSchemaSources } from './avro-schemas.ts';
import { checkContractEvolution } from './compat.ts';
import type { CompatibilityIssue } from './compat.ts';

/** The outcome of comparing one `.avsc` file with its committed version. */
export type SchemaHistoryResult =
  | { readonly file: string; readonly status: 'new' }
  | { readonly file: string; readonly status: 'checked'; readonly issues: readonly CompatibilityIssue[] };

/** What {@link compareWithCommitted} found. */
export interface SchemaHistoryReport {
  /** The commit compared against; undefined when the folder is not in a git checkout with a commit. */
  readonly base: string | undefined;
  readonly results: readonly SchemaHistoryResult[];
}

function git(cwd: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** The commit schema edits are checked against (see the module comment). */
export function schemaBaseRevision(
  repoRoot: string,
  baseRef: string | undefined = process.env['CF_SCHEMA_BASE_REF'],
): string | undefined {
  if (baseRef !== undefined && baseRef !== '')
    return git(repoRoot, ['rev-parse', '--verify', `${baseRef}^{commit}`]);
  const head = git(repoRoot, ['rev-parse', '--verify', 'HEAD^{commit}']);
  if (head === undefined) return undefined;
  if (git(repoRoot, ['rev-parse', '--verify', 'origin/main^{commit}']) === undefined) return head;
  return git(repoRoot, ['merge-base', 'HEAD', 'origin/main']) ?? head;
}

/**
 * Check every `.avsc` in `schemaDir` (default `schemas/avro/`) against its version at the
 * base revision with {@link checkContractEvolution}. Files absent at the base are `new`.
 */
export function compareWithCommitted(options: {
  readonly repoRoot: string;
  readonly schemaDir?: string;
  readonly baseRef?: string;
}): SchemaHistoryReport {
  const schemaDir = options.schemaDir ?? AVRO_SCHEMA_DIR;
  const base = schemaBaseRevision(options.repoRoot, options.baseRef);
  if (base === undefined) return { base, results: [] };
  const gitDir = relative(options.repoRoot, schemaDir).replace(/\/$/, '');
  const listing = git(options.repoRoot, ['ls-tree', '--name-only', `${base}:${gitDir}`]) ?? '';
  const committed = parseAvroSchemaSources(
    listing
      .split('\n')
      .filter((f) => f.endsWith('.avsc'))
      .map((file) => ({ file, text: git(options.repoRoot, ['show', `${base}:${gitDir}/${file}`]) ?? '' })),
  );
  const before = new Map(committed.map((f) => [f.file, f]));
  const results = loadAvroSchemas(schemaDir).map((current): SchemaHistoryResult => {
    const previous = before.get(current.file);
    if (previous === undefined) return { file: current.file, status: 'new' };
    return {
      file: current.file,
      status: 'checked',
      issues: checkContractEvolution(current.schema, previous.schema),
    };
  });
  return { base, results };
}
