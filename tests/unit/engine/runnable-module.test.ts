import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cachedRunnableModule, runnableModule } from '../../../runtime/workers/runnable-module.ts';
import { InlinePool, PiscinaPool } from '../../../runtime/workers/piscina-pool.ts';

/** A folder laid out like the built package: processors/ holds only the compiled `.js`. */
function builtLayout(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cf-runnable-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'processors'));
  writeFileSync(
    join(dir, 'processors', 'double-worker.js'),
    'export default async (task) => ({ doubled: task.n * 2, ext: "js" });\n',
  );
  return dir;
}

test('a .ts processor module that was built maps to its .js sibling', (t) => {
  const dir = builtLayout(t);
  const source = pathToFileURL(join(dir, 'processors', 'double-worker.ts'));
  assert.equal(runnableModule(source).href, pathToFileURL(join(dir, 'processors', 'double-worker.js')).href);
});

test('a .ts module that exists stays .ts (development: the worker loads it through tsx)', (t) => {
  const dir = builtLayout(t);
  writeFileSync(join(dir, 'processors', 'double-worker.ts'), 'export default async () => ({});\n');
  const source = pathToFileURL(join(dir, 'processors', 'double-worker.ts'));
  assert.equal(runnableModule(source).href, source.href);
});

test('.mts and .cts map to .mjs and .cjs; .js, .d.ts, unbuilt and non-file URLs are left alone', () => {
  const files = new Set(['/p/a.mjs', '/p/b.cjs', '/p/c.js', '/p/types.js']);
  const exists = (path: string): boolean => files.has(path);
  assert.equal(runnableModule(new URL('file:///p/a.mts'), exists).href, 'file:///p/a.mjs');
  assert.equal(runnableModule(new URL('file:///p/b.cts'), exists).href, 'file:///p/b.cjs');
  assert.equal(runnableModule(new URL('file:///p/c.js'), exists).href, 'file:///p/c.js');
  assert.equal(runnableModule(new URL('file:///p/types.d.ts'), exists).href, 'file:///p/types.d.ts');
  // Neither file exists: the URL is kept, so the import fails naming the module the topology asked for.
  assert.equal(runnableModule(new URL('file:///p/missing.ts'), exists).href, 'file:///p/missing.ts');
  assert.equal(
    runnableModule(new URL('data:text/javascript,export default 1'), exists).href,
    'data:text/javascript,export default 1',
  );
});

test('the cached resolver asks the file system once per module', () => {
  const asked: string[] = [];
  const resolve = cachedRunnableModule((path) => {
    asked.push(path);
    return path.endsWith('.js');
  });
  for (let i = 0; i < 3; i++) assert.equal(resolve(new URL('file:///p/w.ts')).href, 'file:///p/w.js');
  assert.deepEqual(asked, ['/p/w.ts', '/p/w.js']);
});

test('both pools run a built module named by its .ts source URL', async (t) => {
  const dir = builtLayout(t);
  const source = pathToFileURL(join(dir, 'processors', 'double-worker.ts'));
  assert.deepEqual(await new InlinePool().run(source, { n: 4 }), { doubled: 8, ext: 'js' });
  const pool = new PiscinaPool({ size: 1 });
  try {
    assert.deepEqual(await pool.run(source, { n: 21 }), { doubled: 42, ext: 'js' });
  } finally {
    await pool.close();
  }
});
