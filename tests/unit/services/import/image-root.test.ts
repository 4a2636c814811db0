import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ErrorCodes, PipelineError } from '../../../../schemas/errors.ts';
import { ImageRoot } from '../../../../services/import/image-root.ts';

let dir: string;
let root: ImageRoot;
const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cf-image-root-'));
  mkdirSync(join(dir, 'images', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'images', 'sub', 'a.png'), png);
  writeFileSync(join(dir, 'outside.png'), png);
  symlinkSync(join(dir, 'outside.png'), join(dir, 'images', 'out.png'));
  symlinkSync(join(dir, 'images', 'sub', 'a.png'), join(dir, 'images', 'in.png'));
  symlinkSync(dir, join(dir, 'images', 'up'));
  symlinkSync(join(dir, 'images', 'loop'), join(dir, 'images', 'loop'));
  execFileSync('mkfifo', [join(dir, 'images', 'fifo.png')]);
  root = await ImageRoot.open(join(dir, 'images'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const code = (c: string) => (err: unknown) => err instanceof PipelineError && err.code === c;

test('paths inside the root are read, including through symlinks that stay inside', async () => {
  assert.deepEqual(await root.readImage('sub/a.png', 1000), png);
  assert.deepEqual(await root.readImage('in.png', 1000), png);
  assert.deepEqual(await root.readImage('sub/../sub/./a.png', 1000), png);
});

test('paths that leave the root are refused with PATH_OUTSIDE_ROOT: .., absolute, symlink to outside', async () => {
  await assert.rejects(root.readImage('../outside.png', 1000), code('PATH_OUTSIDE_ROOT'));
  await assert.rejects(root.readImage('sub/../../outside.png', 1000), code('PATH_OUTSIDE_ROOT'));
  await assert.rejects(
    root.readImage(join(dir, 'images', 'sub', 'a.png'), 1000),
    code('PATH_OUTSIDE_ROOT'),
    'absolute, even when it points inside',
  );
  await assert.rejects(root.readImage('/etc/passwd', 1000), code('PATH_OUTSIDE_ROOT'));
  await assert.rejects(root.readImage('out.png', 1000), code('PATH_OUTSIDE_ROOT'));
  await assert.rejects(
    root.readImage('up/outside.png', 1000),
    code('PATH_OUTSIDE_ROOT'),
    'a symlinked directory leading outside',
  );
});

test('missing, unusable and non-regular files get their own codes', async () => {
  await assert.rejects(root.readImage('nope.png', 1000), code('FILE_NOT_FOUND'));
  await assert.rejects(root.readImage('sub/a.png/x', 1000), code('FILE_NOT_FOUND'));
  await assert.rejects(root.readImage('a\0.png', 1000), code('PATH_INVALID'));
  await assert.rejects(root.readImage('loop', 1000), code('PATH_INVALID'));
  await assert.rejects(root.readImage('sub', 1000), code('FILE_UNREADABLE'));
  await assert.rejects(
    root.readImage('fifo.png', 1000),
    code('FILE_UNREADABLE'),
    'a FIFO neither hangs nor is read',
  );
});

test('a file over the limit is refused with IMAGE_TOO_LARGE from its size', async () => {
  await assert.rejects(
    root.readImage('sub/a.png', png.length - 1),
    (err: unknown) =>
      err instanceof PipelineError &&
      err.code === ErrorCodes.IMAGE_TOO_LARGE &&
      err.context.size === png.length,
  );
  assert.equal((await root.readImage('sub/a.png', png.length)).length, png.length);
});

test('opening a missing images directory is a CONFIG_INVALID naming imagesDir', async () => {
  await assert.rejects(
    ImageRoot.open(join(dir, 'missing')),
    (err: unknown) =>
      err instanceof PipelineError &&
      err.code === ErrorCodes.CONFIG_INVALID &&
      err.context.key === 'imagesDir',
  );
  await assert.rejects(ImageRoot.open(join(dir, 'outside.png')), code(ErrorCodes.CONFIG_INVALID));
});
