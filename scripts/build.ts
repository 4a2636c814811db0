/**
 * `npm run build`: compile the production code (tsconfig.build.json) into dist/ and copy beside it
 * the files that code reads from disk at run time, so dist/ runs on plain Node without tsx.
 *
 * Afterwards every `new URL('<relative>', import.meta.url)` in dist/ is checked to point at
 * something that exists there (a `.ts` processor module counts through its `.js` sibling, as the
 * worker pool resolves it), so an asset added later without a line here fails the build, not a
 * production start.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runnableModule } from '../runtime/workers/runnable-module.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

/** Files read at run time relative to a module, by folder: copied to the same place under dist/. */
const ASSETS: readonly { readonly dir: string; readonly ext: string }[] = [
  { dir: 'schemas/avro', ext: '.avsc' }, // the Avro contracts (schemas/avro-schemas.ts)
  { dir: 'runtime/workers', ext: '.mjs' }, // the Piscina worker entry (runtime/workers/piscina-pool.ts)
  { dir: 'services/dashboard', ext: '.html' }, // the lake dashboard (services/dashboard/routes.ts)
  { dir: 'services/dashboard', ext: '.js' },
  { dir: 'services/dashboard', ext: '.css' },
];

const started = Date.now();
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], {
  cwd: root,
  stdio: 'inherit',
});

let copied = 0;
for (const { dir, ext } of ASSETS) {
  for (const name of readdirSync(join(root, dir)).filter((n) => n.endsWith(ext))) {
    cpSync(join(root, dir, name), join(dist, dir, name));
    copied++;
  }
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return jsFiles(path);
    return /\.m?js$/.test(e.name) ? [path] : [];
  });
}

const missing: string[] = [];
const files = jsFiles(dist);
for (const file of files) {
  // Code lines only: doc comments quote such URLs as examples.
  const code = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line))
    .join('\n');
  for (const [, target] of code.matchAll(
    /new URL\(\s*['"](\.{1,2}\/[^'"]*)['"]\s*,\s*import\.meta\.url\s*\)/g,
  )) {
    const url = runnableModule(new URL(target!, pathToFileURL(file)));
    if (!existsSync(url))
      missing.push(
        `${relative(root, file)}: ${target!} → ${relative(root, fileURLToPath(url))} does not exist`,
      );
  }
}
if (missing.length > 0) {
  console.error(
    `build: files the code reads at run time are missing from dist/ (add them to ASSETS in scripts/build.ts):\n${missing.join('\n')}`,
  );
  process.exit(1);
}
console.log(
  `build: ${files.length} modules and ${copied} assets in ${relative(root, dist)}/ in ${((Date.now() - started) / 1000).toFixed(1)}s`,
);
