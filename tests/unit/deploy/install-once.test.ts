import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installedOnce, installOnce } from '../../../deploy/services/run-command.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cf-install-once-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('installOnce builds once, and callers that race wait for that one build', async (t) => {
  const target = join(tempDir(t), 'thing', '1.0');
  let builds = 0;
  const build = async (): Promise<string> => {
    builds++;
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(join(target, 'bin'), 'x');
    return '1.0';
  };
  const markers = await Promise.all([installOnce(target, build), installOnce(target, build), installOnce(target, build)]);
  assert.deepEqual(markers, ['1.0', '1.0', '1.0']);
  assert.equal(builds, 1);
  assert.ok(installedOnce(target));
  assert.equal(await installOnce(target, build), '1.0');
  assert.equal(builds, 1, 'a finished install is reused');
  assert.ok(!existsSync(`${target}.lock`), 'the lock is gone');
});

test('installOnce: a failed build leaves no marker, and the next call starts again from an empty folder', async (t) => {
  const target = join(tempDir(t), 'thing');
  await assert.rejects(
    installOnce(target, () => {
      writeFileSync(join(target, 'half-written'), 'x');
      return Promise.reject(new Error('download failed'));
    }),
    /download failed/,
  );
  assert.ok(!installedOnce(target));
  const seen = await installOnce(target, () => Promise.resolve(JSON.stringify({ left: readdirSync(target) })));
  assert.deepEqual(JSON.parse(seen), { left: [] });
  assert.ok(installedOnce(target));
});
