/**
 * Crash safety of the embedded lake: a child process writes objects and catalog records in a
 * loop and is SIGKILLed at random moments, several times over the same directory. Afterwards no
 * partial object may be visible, every object's bytes must match its sha256, and no catalog
 * record may point at a missing object.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openSqliteCatalog } from '../../../runtime/catalog/sqlite-catalog.ts';
import { checkConsistency } from '../../../runtime/lake/consistency.ts';
import { openFsObjectStore } from '../../../runtime/lake/fs-object-store.ts';
import { sha256Hex } from '../../../runtime/lake/object-body.ts';

const WRITER = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));
const ROUNDS = 6;

async function runAndKill(root: string, catalogPath: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, root, catalogPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`writer exited (${code}) before it was ready: ${stderr}`)));
  });
  await new Promise((r) => setTimeout(r, 100 + Math.random() * 600));
  child.kill('SIGKILL');
  const [code, signal] = (await exited) as [number | null, string | null];
  assert.equal(signal, 'SIGKILL', `writer died on its own (code ${code}): ${stderr}`);
}

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

describe('lake crash safety (fs + sqlite, SIGKILL)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cf-crash-'));
    for (let round = 0; round < ROUNDS; round += 1)
      await runAndKill(join(dir, 'lake'), join(dir, 'catalog.sqlite'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('shows only whole objects whose bytes match their sha256', async () => {
    const store = await openFsObjectStore({ root: join(dir, 'lake') });
    const root = join(dir, 'lake');
    let objects = 0;
    for (const path of await allFiles(root)) {
      const name = path.slice(path.lastIndexOf(sep) + 1);
      // Temporary files of interrupted puts: invisible by construction (dot-names are not keys).
      if (name.startsWith('.')) continue;
      const key = relative(root, path).split(sep).join('/');
      const head = await store.head(key);
      assert.ok(head?.sha256 !== undefined, `${key} is visible but has no metadata`);
      const bytes = await store.get(key);
      assert.equal(bytes.length, head.size, `${key} is partial`);
      assert.equal(sha256Hex(bytes), head.sha256, `${key} bytes do not match its sha256`);
      if (key.startsWith('bronze/'))
        assert.ok(key.includes(head.sha256), `${key} holds other bytes than its content key says`);
      objects += 1;
    }
    assert.ok(objects > ROUNDS, `the writer wrote too little to test anything (${objects} objects)`);
    const debris = async (): Promise<string[]> =>
      (await allFiles(root)).filter((p) => p.slice(p.lastIndexOf(sep) + 1).startsWith('.'));
    const before = (await debris()).length;
    assert.equal(await store.sweepIncomplete(new Date(Date.now() + 60_000)), before);
    assert.deepEqual(await debris(), []);
  });

  it('has no catalog record without its object', async () => {
    const store = await openFsObjectStore({ root: join(dir, 'lake') });
    const catalog = await openSqliteCatalog({ path: join(dir, 'catalog.sqlite') });
    try {
      const report = await checkConsistency(store, catalog, { verifyContent: true });
      assert.deepEqual(report.missingObjects, []);
      assert.deepEqual(report.corruptObjects, []);
      assert.ok(report.checked.records > 0);
      // Orphans (object written, record not yet) are the allowed debris of a kill: at most one per round.
      assert.ok(report.orphanObjects.filter((o) => o.key.startsWith('bronze/')).length <= ROUNDS);
    } finally {
      await catalog.close();
    }
  });
});
