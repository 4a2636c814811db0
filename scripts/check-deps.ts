/**
 * Dependency rules eslint cannot see on its own, checked on the resolved import graph (madge),
 * type-only imports included (a type cycle is still a cycle a reader has to untangle):
 * - no circular imports anywhere;
 * - floors: a folder imports only folders below it —
 *   app/ → services/ → topologies/ → runtime/ → processors/ → schemas/;
 *   nothing imports app/ (the composition root), runtime/ never imports upward;
 * - processors/ stays pure: nothing from runtime/, services/, topologies/ or app/.
 */
import madge from 'madge';

const root = new URL('..', import.meta.url).pathname;
/** Floors from the top down: a folder may import its own floor and the ones below it. */
const floors = ['app', 'services', 'topologies', 'runtime', 'processors', 'schemas'] as const;
const floorOf = (file: string): number => floors.findIndex((f) => file.startsWith(`${f}/`));

const res = await madge(
  floors.map((d) => `${root}${d}`),
  { fileExtensions: ['ts', 'mjs'], tsConfig: `${root}tsconfig.json`, baseDir: root, detectiveOptions: { ts: { skipTypeImports: false }, es6: { skipTypeImports: false } } },
);
const problems: string[] = [];
for (const cycle of res.circular()) problems.push(`circular import: ${cycle.join(' -> ')}`);
for (const [file, deps] of Object.entries(res.obj())) {
  const mine = floorOf(file);
  if (mine < 0) continue;
  for (const dep of deps) {
    const theirs = floorOf(dep);
    if (theirs >= 0 && theirs < mine) problems.push(`${file} imports ${dep}: ${floors[mine]}/ must not import the floor above it (${floors[theirs]}/)`);
  }
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`dependency check: ${Object.keys(res.obj()).length} modules (type imports included), no cycles, no upward imports (${floors.join(' → ')})`);
