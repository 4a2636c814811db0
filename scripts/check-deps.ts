/**
 * Dependency rules eslint cannot see on its own: no circular imports anywhere (madge), and
 * `processors/` importing nothing from runtime/, services/, topologies/ or client libraries
 * (checked here on the resolved graph as well as by eslint's no-restricted-imports).
 */
import madge from 'madge';

const root = new URL('..', import.meta.url).pathname;
const dirs = ['runtime', 'processors', 'topologies', 'schemas', 'services'];
const res = await madge(
  dirs.map((d) => `${root}${d}`),
  { fileExtensions: ['ts', 'mjs'], tsConfig: `${root}tsconfig.json`, baseDir: root, detectiveOptions: { ts: { skipTypeImports: true } } },
);
const problems: string[] = [];
for (const cycle of res.circular()) problems.push(`circular import: ${cycle.join(' -> ')}`);
const forbidden = /^(runtime|services|topologies)\//;
for (const [file, deps] of Object.entries(res.obj())) {
  if (!file.startsWith('processors/')) continue;
  for (const dep of deps) if (forbidden.test(dep)) problems.push(`${file} imports ${dep}: processors/ must stay pure`);
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`dependency check: ${Object.keys(res.obj()).length} modules, no cycles, processors pure`);
