/**
 * Which file a worker actually loads for a processor module URL. Topologies name processor
 * modules by their source file (`new URL('../processors/image/normalize-worker.ts', import.meta.url)`);
 * in a checkout that file exists and the worker loads it through tsx, while the built package
 * (`dist/`, compiled by `npm run build`) holds only the `.js` sibling. Deciding by what exists on
 * disk, rather than by how this module was started, keeps a real `.ts` module given to a built
 * pool loadable in development and needs no flag in either setting.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** TypeScript source extensions and the extension tsc gives their output (as `rewriteRelativeImportExtensions` does). */
const BUILT_EXTENSION: Readonly<Record<string, string>> = { '.ts': '.js', '.mts': '.mjs', '.cts': '.cjs' };

const SOURCE = /(?<!\.d)(\.[cm]?ts)$/;

/**
 * The module a worker should import for `module`: the URL itself, unless it is a `file:` URL of a
 * TypeScript source (`.ts`, `.mts`, `.cts`) that does not exist while its built sibling (`.js`,
 * `.mjs`, `.cjs`) does — then that sibling. Anything else is returned unchanged, so a missing
 * module still fails on import with its own name.
 * @param exists file test, replaceable in tests; defaults to `existsSync`.
 */
export function runnableModule(module: URL, exists: (path: string) => boolean = existsSync): URL {
  if (module.protocol !== 'file:') return module;
  const path = fileURLToPath(module);
  const match = SOURCE.exec(path);
  if (match === null || exists(path)) return module;
  const built = `${path.slice(0, -match[1]!.length)}${BUILT_EXTENSION[match[1]!]!}`;
  return exists(built) ? pathToFileURL(built) : module;
}

/** {@link runnableModule} with its answers remembered by URL: a pool asks once per module, not once per task. */
export function cachedRunnableModule(exists: (path: string) => boolean = existsSync): (module: URL) => URL {
  const known = new Map<string, URL>();
  return (module) => {
    let resolved = known.get(module.href);
    if (resolved === undefined) {
      resolved = runnableModule(module, exists);
      known.set(module.href, resolved);
    }
    return resolved;
  };
}
